/**
 * TURN relay threads (docs/turn-threads.md) over a real server container,
 * real sockets on 127.0.0.1: clients land on different threads and relay
 * both ways; quotas per user hold across threads; credentials come from the
 * main thread's cache (signaling logins); guesses spread over threads are
 * held to the throttle's limits; a thread that crashes is restarted on the
 * same port, allocations on the others keep relaying (datagrams the kernel
 * now gives the new thread are forwarded to their owner, thread to thread:
 * the main thread's hub sees none of them), and a second
 * Allocate on an owned 5-tuple is answered by the owner. On Node 20 (no
 * SO_REUSEPORT) TURN runs on the main thread and says why.
 */
import 'reflect-metadata';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GUESS_THROTTLE, METRICS, TURN_CREDENTIALS } from '../../src/di/tokens.js';
import { TURN_LISTENER_NAME } from '../../src/names.js';
import { Attr, encodeStun, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';
import { poll } from '../helpers/wait.js';
import { errorCodeOf, RawTurnClient, UdpEndpoint } from './helpers.js';
import { assertMainOffDataPath, clientKey, relaysBothWays, sample, startThreads, THREAD_USERS as USERS, threadsSkip as skip, watchHub } from './thread-helpers.js';
import type { Running } from './thread-helpers.js';

/** Allocated clients until both threads hold at least `perThread` (the kernel hashes each source port). */
async function spreadClients(r: Running, perThread: number, user = 'alice'): Promise<RawTurnClient[]> {
  const clients: RawTurnClient[] = [];
  for (let i = 0; i < 40; i++) {
    const held = [r.hub.threadStats(1)!.allocations, r.hub.threadStats(2)!.allocations];
    if (held.every((n) => n >= perThread)) return clients;
    const client = await RawTurnClient.open(r.server, user, USERS[user as keyof typeof USERS]);
    clients.push(client);
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
  }
  throw new Error('40 clients all landed on one thread');
}

describe('relay threads', { skip }, () => {
  test('turn_sup runs turn_relay_1..N then turn_listener; clients land on both threads and relay both ways', async (t) => {
    const r = await startThreads();
    const peer = await UdpEndpoint.open();
    const clients = await spreadClients(r, 2);
    t.after(async () => { for (const c of clients) c.close(); peer.close(); await r.sup.stop(); });
    assert.deepEqual(r.sup.whichChildren().map((ch) => [ch.id, ch.state]), [['turn_relay_1', 'running'], ['turn_relay_2', 'running'], [TURN_LISTENER_NAME, 'running']]);
    for (const [i, client] of clients.entries()) await relaysBothWays(client, peer, `m${i}`);
    const stats = r.listener()!.stats();
    assert.equal(stats.allocations, clients.length, 'the listener sums the threads');
    assert.equal(stats.allocations, r.hub.threadStats(1)!.allocations + r.hub.threadStats(2)!.allocations);
    assert.ok(r.c.resolve(METRICS).turnRelayed.total > 0, 'relayed bytes reach the server counter');
    const text = (await r.c.resolve(METRICS).expose()).body;
    for (const thread of [1, 2]) assert.equal(sample(text, `webrtc_turn_thread_allocations{thread="${thread}"}`), r.hub.threadStats(thread)!.allocations);
    assert.equal(r.hub.forwardedDatagrams(), 0, 'no thread restarted: nothing forwarded');
  });

  test('a per-user quota of 1 holds across threads: the second allocation is 486 wherever it lands', async (t) => {
    const r = await startThreads({ turnMaxAllocationsPerUser: 1 });
    const clients: RawTurnClient[] = [];
    t.after(async () => { for (const c of clients) c.close(); await r.sup.stop(); });
    const first = await RawTurnClient.open(r.server, 'alice', 'alice-pw');
    clients.push(first);
    assert.equal((await first.allocate()).cls, StunClass.SUCCESS);
    const firstThread = r.hub.threadStats(1)!.allocations === 1 ? 1 : 2;
    const otherThread = firstThread === 1 ? 2 : 1;
    for (let i = 0; i < 30 && r.hub.threadStats(otherThread)!.quotaRefused === 0; i++) {
      const client = await RawTurnClient.open(r.server, 'alice', 'alice-pw');
      clients.push(client);
      assert.equal(errorCodeOf(await client.allocate()), 486);
    }
    assert.ok(r.hub.threadStats(otherThread)!.quotaRefused > 0, 'a refused Allocate came in on the thread that holds none of alice\'s');
    assert.equal(r.listener()!.stats().allocations, 1);
  });

  test('credentials from the main thread\'s cache: a signaling login, then TURN on a thread', async (t) => {
    const r = await startThreads({ auth: { users: {} } });
    r.c.resolve(TURN_CREDENTIALS).loggedIn('frank', 'frank-pw', 'Frank');
    const client = await RawTurnClient.open(r.server, 'frank', 'frank-pw');
    const wrong = await RawTurnClient.open(r.server, 'frank', 'nope');
    t.after(async () => { client.close(); wrong.close(); await r.sup.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await wrong.allocate()), 401);
  });

  test('guesses spread over threads are held to the guess throttle\'s limits (overshoot bounded)', async (t) => {
    const r = await startThreads();
    const guessers = await Promise.all(Array.from({ length: 8 }, () => RawTurnClient.open(r.server, 'alice', 'guess')));
    t.after(async () => { for (const g of guessers) g.close(); await r.sup.stop(); });
    for (const g of guessers) g.learn(await g.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]));
    // 10 rounds of one wrong password from each of 8 sockets (spread over both threads): 80 guesses from one IP
    for (let round = 0; round < 10; round++) {
      for (const g of guessers) {
        g.udp.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [
          [Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [Attr.USERNAME, Buffer.from('alice')],
          [Attr.REALM, Buffer.from(g.realm!)], [Attr.NONCE, Buffer.from(g.nonce!)],
        ], { integrityKey: g.key }), r.server);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    const metrics = r.c.resolve(METRICS);
    await poll(async () => sample((await metrics.expose()).body, 'webrtc_auth_failures_total{transport="turn"}') > 0, 3_000, 50);
    await new Promise((res) => setTimeout(res, 300)); // the threads' batched events
    const text = (await metrics.expose()).body;
    const failures = sample(text, 'webrtc_auth_failures_total{transport="turn"}');
    const throttled = sample(text, 'webrtc_auth_throttled_total{transport="turn",scope="ip"}');
    assert.ok(failures >= 20 && failures <= 20 + 2 * 4, `checked ${failures}: the IP's burst of 20, plus at most 4 per thread in flight`);
    assert.ok(throttled >= 80 - failures - 16, `throttled ${throttled}`);
    assert.equal(r.c.resolve(GUESS_THROTTLE).admit('127.0.0.1', 'alice'), 'ip', 'the server\'s throttle (signaling\'s too) is empty for the IP');
  });

  test('the 401/438 budget per source IP holds across threads: 64 source ports get at most the burst (+1) and the refill', async (t) => {
    const r = await startThreads({}, {}); // the default budget
    const sockets = await Promise.all(Array.from({ length: 64 }, () => UdpEndpoint.open()));
    t.after(async () => { for (const s of sockets) s.close(); await r.sup.stop(); });
    const started = performance.now();
    // one unauthenticated Allocate from each port: the kernel hashes the ports over both threads
    for (const s of sockets) {
      s.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]), r.server);
    }
    const answered = (await Promise.all(sockets.map((s) => s.next(() => true, 600).then(() => 1, () => 0)))).reduce<number>((a, b) => a + b, 0);
    const seconds = (performance.now() - started) / 1000;
    // defaults: burst 16, 4/s per IP; each of 2 threads keeps ceil(16 / 2) = 8 and 2/s
    const bound = 16 + 1 + Math.ceil(4 * seconds);
    t.diagnostic(`${answered} of 64 answered in ${seconds.toFixed(2)} s (bound ${bound}; per-thread budgets would answer about 32)`);
    assert.ok(answered <= bound, `${answered} answered, more than ${bound}`);
    assert.ok(answered >= 8, `${answered} answered: at least one thread's share`);
  });

  test('a thread that crashes is restarted on the same port; the other thread\'s allocations keep relaying, and are never allocated twice', async (t) => {
    const r = await startThreads();
    const hub = watchHub(r.hub);
    const peer = await UdpEndpoint.open();
    const clients = await spreadClients(r, 4);
    t.after(async () => { for (const c of clients) c.close(); peer.close(); await r.sup.stop(); });
    const onTwo: RawTurnClient[] = [];
    for (const client of clients) if (r.hub.ownerOf(clientKey(client)) === 2) onTwo.push(client);
    assert.ok(onTwo.length >= 4);
    r.hub.crash(1);
    // running: its socket is bound (the hub knows a thread from its first message on, before it listens)
    assert.ok(await poll(() => r.sup.whichChildren()[0]!.restarts === 1 && r.sup.whichChildren()[0]!.state === 'running', 10_000, 50), 'turn_relay_1 restarted');
    assert.equal(r.hub.threadStats(1)!.allocations, 0, 'thread 1\'s allocations died with it');
    assert.equal(r.listener()!.address()!.port, r.server.port);
    for (const [i, client] of onTwo.entries()) await relaysBothWays(client, peer, `after${i}`);
    // The restarted socket joined the SO_REUSEPORT group again: the kernel maps some of thread 2's
    // clients to thread 1 now, whose datagrams reached thread 2 only by forwarding (with 4 or more
    // clients on thread 2, some are remapped: Linux moves the last socket into the slot the dead one left).
    const forwarded = r.hub.forwardedDatagrams();
    assert.ok(forwarded > 0, 'datagrams of thread 2\'s clients were forwarded to it and handled there');
    assert.equal(r.hub.threadStats(2)!.forwarded, forwarded, 'handled by the owner, thread 2');
    assert.equal(sample((await r.c.resolve(METRICS).expose()).body, 'webrtc_turn_forwarded_datagrams_total'), forwarded);
    assertMainOffDataPath(hub);
    t.diagnostic(`${forwarded} datagrams forwarded; the hub was told ${JSON.stringify(Object.fromEntries(hub.kinds))}`);
    // a new Allocate (new transaction) on an owned 5-tuple: the owner answers 437, no second allocation
    for (const client of onTwo) assert.equal(errorCodeOf(await client.allocate()), 437);
    assert.equal(r.hub.threadStats(2)!.allocations, onTwo.length);
    assert.equal(r.listener()!.stats().allocations, onTwo.length);
    // the restarted thread serves new clients
    const fresh = await RawTurnClient.open(r.server, 'bob', 'bob-pw');
    clients.push(fresh);
    assert.equal((await fresh.allocate()).cls, StunClass.SUCCESS);
    assertMainOffDataPath(hub);
  });
});

describe('Node 20: no SO_REUSEPORT', () => {
  const node20 = '/usr/bin/node';
  const version = existsSync(node20) ? spawnSync(node20, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
  test('TURN relays on the main thread and the log says why', { skip: version.startsWith('v20.') ? false : `${node20} is not Node 20 (${version || 'absent'})` }, () => {
    const script = fileURLToPath(new URL('./fixtures/node20-turn.ts', import.meta.url));
    const run = spawnSync(node20, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /TURN relays on the main thread: Node v20\.[\d.]+ cannot share a UDP port between threads/);
    assert.match(run.stdout, /^allocated 2 children turn_listener$/m);
  });
});
