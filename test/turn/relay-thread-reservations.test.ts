/**
 * EVEN-PORT reservations across relay threads (RFC 8656 section 7.2,
 * docs/turn-threads.md "EVEN-PORT reservations"): a RESERVATION-TOKEN names
 * the thread holding the reserved port; a redeeming Allocate the kernel
 * gives another thread is forwarded to it, which allocates, answers from its
 * own socket and owns the new client from then on; the datagrams go thread
 * to thread, over channels that restarts replace. Real sockets on
 * 127.0.0.1, `turnThreads: 2`: the kernel hashes each client's 4-tuple to a
 * thread, so the tests find a socket on the thread they need by allocating
 * from fresh sockets (at most 64) and asking the directory.
 */
import 'reflect-metadata';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Attr, getAttribute, StunClass } from '../../src/turn/stun.js';
import { poll } from '../helpers/wait.js';
import { errorCodeOf, RawTurnClient, UdpEndpoint } from './helpers.js';
import type { ClientEndpoint } from './helpers.js';
import { assertMainOffDataPath, clientKey, relaysBothWays, startThreads, threadsSkip as skip, watchHub } from './thread-helpers.js';
import type { Running } from './thread-helpers.js';

const R_BIT: [number, Buffer] = [Attr.EVEN_PORT, Buffer.from([0x80, 0, 0, 0])];
/** Fresh sockets tried at most to find one the kernel gives a wanted thread. */
const PROBES = 64;

function redeem(client: RawTurnClient<ClientEndpoint>, token: Buffer | string) {
  return client.allocate([[Attr.RESERVATION_TOKEN, typeof token === 'string' ? Buffer.from(token, 'latin1') : token]]);
}

/**
 * A fresh client (alice) whose datagrams the kernel gives a thread `wanted`
 * accepts: each candidate allocates (with no owner yet, its allocation is
 * made where its datagrams land), the directory says where, and the
 * allocation is deleted again (its slot and directory entry given back
 * before this returns). Throws after `PROBES` sockets.
 */
async function clientOnThread(r: Running, wanted: (thread: number) => boolean, opened: RawTurnClient[]): Promise<{ client: RawTurnClient; thread: number }> {
  for (let i = 0; i < PROBES; i++) {
    const client = await RawTurnClient.open(r.server);
    opened.push(client);
    const slots = r.hub.quota.total;
    const allocated = await client.allocate();
    assert.equal(allocated.cls, StunClass.SUCCESS, `probe allocation: error ${errorCodeOf(allocated)}`);
    const thread = r.hub.ownerOf(clientKey(client));
    assert.ok(thread !== undefined, 'the probe allocation is in the directory');
    assert.equal((await client.refresh(0)).cls, StunClass.SUCCESS);
    assert.ok(await poll(() => r.hub.ownerOf(clientKey(client)) === undefined && r.hub.quota.total === slots, 2_000), 'probe allocation given back');
    if (wanted(thread)) return { client, thread };
  }
  throw new Error(`${PROBES} fresh sockets, none on the wanted thread`);
}

/**
 * A reservation held on thread `holder`, redeemed from a socket the kernel
 * gives the other thread, then relaying both ways: every datagram of the
 * redeeming client goes over the channel between the two threads.
 */
async function redeemAcross(r: Running, holder: number, peer: UdpEndpoint, clients: RawTurnClient[], label: string): Promise<void> {
  const other = holder === 1 ? 2 : 1;
  const { client: rtp } = await clientOnThread(r, (n) => n === holder, clients);
  const reserved = await rtp.allocate([R_BIT]);
  assert.equal(reserved.cls, StunClass.SUCCESS, `${label}: reserve, error ${errorCodeOf(reserved)}`);
  const { client: rtcp } = await clientOnThread(r, (n) => n === other, clients);
  const before = r.hub.threadStats(holder)!.forwarded;
  const redeemed = await redeem(rtcp, getAttribute(reserved, Attr.RESERVATION_TOKEN)!.value);
  assert.equal(redeemed.cls, StunClass.SUCCESS, `${label}: redeem on thread ${other}, error ${errorCodeOf(redeemed)}`);
  assert.equal(rtcp.relay!.port, rtp.relay!.port + 1);
  assert.equal(r.hub.ownerOf(clientKey(rtcp)), holder);
  await relaysBothWays(rtcp, peer, label);
  assert.ok(r.hub.threadStats(holder)!.forwarded >= before + 3, `${label}: the redeem, CreatePermission and Send reached thread ${holder} from thread ${other}`);
}

describe('EVEN-PORT reservations across relay threads', { skip }, () => {
  test('a token redeemed from a socket the kernel gives the other thread: forwarded to the holder, relayed port N+1, relays both ways, quota kept, once only', async (t) => {
    const r = await startThreads({ turnMaxAllocationsPerUser: 3 });
    const hub = watchHub(r.hub);
    const peer = await UdpEndpoint.open();
    const clients: RawTurnClient[] = [];
    t.after(async () => { for (const c of clients) c.close(); peer.close(); await r.sup.stop(); });
    const rtp = await RawTurnClient.open(r.server);
    clients.push(rtp);
    const reserved = await rtp.allocate([R_BIT]);
    assert.equal(reserved.cls, StunClass.SUCCESS, `error ${errorCodeOf(reserved)}`);
    const token = getAttribute(reserved, Attr.RESERVATION_TOKEN)!.value;
    assert.equal(token.length, 8);
    assert.equal(rtp.relay!.port % 2, 0);
    const holder = r.hub.ownerOf(clientKey(rtp))!;
    const other = holder === 1 ? 2 : 1;
    assert.equal(r.hub.quota.total, 2, 'the allocation and the reservation each hold a slot of alice');

    const { client: rtcp } = await clientOnThread(r, (n) => n === other, clients);
    const forwardedBefore = r.hub.threadStats(holder)!.forwarded;
    // the whole handshake: the other thread answers the first Allocate 401 with a nonce of its own,
    // which the holder checks on the authenticated one (one nonce key for all threads)
    rtcp.nonce = null;
    const redeemed = await redeem(rtcp, token);
    t.diagnostic(`reservation on thread ${holder}; redeemed from ${clientKey(rtcp)} (kernel: thread ${other}): ${redeemed.cls === StunClass.SUCCESS ? 'success' : `error ${errorCodeOf(redeemed)}`}`);
    assert.equal(redeemed.cls, StunClass.SUCCESS, `redeem landing on thread ${other}: error ${errorCodeOf(redeemed)}`);
    assert.equal(rtcp.relay!.port, rtp.relay!.port + 1, 'the reserved port, N + 1');
    assert.ok(rtcp.integrityValid(redeemed), 'answered with MESSAGE-INTEGRITY by the holder');
    assert.ok(r.hub.threadStats(holder)!.forwarded > forwardedBefore, 'the redeem reached the holder by forwarding');
    assert.equal(r.hub.ownerOf(clientKey(rtcp)), holder, 'the holder owns the new client in the directory');
    assert.equal(r.hub.threadStats(holder)!.allocations, 2);
    assert.equal(r.hub.threadStats(other)!.allocations, 0);
    assert.equal(r.hub.quota.total, 2, 'the reservation\'s slot passed to the allocation: no slot taken, none freed');

    // later datagrams of that 5-tuple still reach the other thread, which forwards them to the holder
    const forwardedMid = r.hub.threadStats(holder)!.forwarded;
    await relaysBothWays(rtcp, peer, 'rtcp');
    assert.ok(r.hub.threadStats(holder)!.forwarded > forwardedMid, 'CreatePermission and Send forwarded to the holder');
    await relaysBothWays(rtp, peer, 'rtp');
    assertMainOffDataPath(hub);

    // the token is spent: a second redeem fails (508) wherever it lands
    for (const thread of [holder, other]) {
      const { client: late } = await clientOnThread(r, (n) => n === thread, clients);
      assert.equal(errorCodeOf(await redeem(late, token)), 508, `second redeem landing on thread ${thread}`);
    }
    assert.equal(r.hub.quota.total, 2);

    // alice holds 2 of 3: one more allocation, then 486
    const extra = await RawTurnClient.open(r.server);
    const beyond = await RawTurnClient.open(r.server);
    clients.push(extra, beyond);
    assert.equal((await extra.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await beyond.allocate()), 486);

    // the redeemed allocation ends like any other: its slot and directory entry are given back
    assert.equal((await rtcp.refresh(0)).cls, StunClass.SUCCESS);
    assert.ok(await poll(() => r.hub.ownerOf(clientKey(rtcp)) === undefined && r.hub.quota.total === 2, 2_000), 'slot and directory entry given back');
    assert.equal(r.listener()!.stats().allocations, 2);
  });

  test('a token naming no running thread (or another thread, but no reservation) gets 508 at once, wherever it lands; nothing held', async (t) => {
    const r = await startThreads();
    const clients: RawTurnClient[] = [];
    t.after(async () => { for (const c of clients) c.close(); await r.sup.stop(); });
    const onThread = [
      (await clientOnThread(r, (n) => n === 1, clients)).client,
      (await clientOnThread(r, (n) => n === 2, clients)).client,
    ];
    const invalid = [
      '9AbCdEfG', // thread 9 of 2
      '0AbCdEfG', // the main thread's (TCP/TLS streams): not forwardable
      '~AbCdEfG', // no thread index
      '\u00ffAbCdEfG', // not ASCII
    ];
    const forwarded = () => r.hub.forwardedDatagrams();
    const before = forwarded();
    for (const client of onThread) {
      for (const token of invalid) assert.equal(errorCodeOf(await redeem(client, token)), 508, `token ${JSON.stringify(token)}`);
    }
    assert.equal(forwarded(), before, 'an invalid index is not forwarded anywhere');
    for (const client of onThread) {
      for (const token of ['1AbCdEfG', '2AbCdEfG']) assert.equal(errorCodeOf(await redeem(client, token)), 508, `token ${token}`);
    }
    assert.equal(forwarded(), before + 2, 'a valid index of the other thread is forwarded there, which knows no such reservation');
    assert.equal(r.hub.quota.total, 0);
    assert.equal(r.listener()!.stats().allocations, 0);
    // the threads write their socket counts every 100 ms
    assert.ok(await poll(() => r.listener()!.stats().relaySockets === 0, 1_000), `relay sockets open: ${r.listener()!.stats().relaySockets}`);
  });

  test('over TCP (the main thread): redeemed over another stream with the reservation\'s slot; a UDP redeem of that token is 508', async (t) => {
    const r = await startThreads({ turnTcp: true, turnMaxAllocationsPerUser: 2 });
    const rtp = await RawTurnClient.openStream(r.server, 'tcp');
    const rtcp = await RawTurnClient.openStream(r.server, 'tcp');
    const udp = await RawTurnClient.open(r.server);
    t.after(async () => { rtp.close(); rtcp.close(); udp.close(); await r.sup.stop(); });
    const reserved = await rtp.allocate([R_BIT]);
    assert.equal(reserved.cls, StunClass.SUCCESS, `error ${errorCodeOf(reserved)}`);
    const token = getAttribute(reserved, Attr.RESERVATION_TOKEN)!.value;
    assert.equal(token.toString('latin1')[0], '0', 'the main thread\'s token');
    assert.equal(r.hub.quota.total, 2);
    const forwarded = r.hub.forwardedDatagrams();
    assert.equal(errorCodeOf(await redeem(udp, token)), 508, 'a relay thread cannot hand a datagram to the main thread');
    assert.equal(r.hub.forwardedDatagrams(), forwarded);
    const redeemed = await redeem(rtcp, token);
    assert.equal(redeemed.cls, StunClass.SUCCESS, `alice holds 2 of 2: the reservation's slot passes (error ${errorCodeOf(redeemed)})`);
    assert.equal(rtcp.relay!.port, rtp.relay!.port + 1);
    assert.equal(r.hub.quota.total, 2);
  });

  test('a token of a thread that died is unknown to its restarted self (508); the reservation\'s slot went with the thread', async (t) => {
    const r = await startThreads();
    const clients: RawTurnClient[] = [];
    t.after(async () => { for (const c of clients) c.close(); await r.sup.stop(); });
    const rtp = await RawTurnClient.open(r.server);
    clients.push(rtp);
    const reserved = await rtp.allocate([R_BIT]);
    assert.equal(reserved.cls, StunClass.SUCCESS);
    const token = getAttribute(reserved, Attr.RESERVATION_TOKEN)!.value;
    const holder = r.hub.ownerOf(clientKey(rtp))!;
    r.hub.crash(holder);
    const child = () => r.sup.whichChildren()[holder - 1]!;
    assert.ok(await poll(() => child().restarts === 1 && child().state === 'running', 10_000, 50), `turn_relay_${holder} restarted`);
    assert.equal(r.hub.quota.total, 0, 'the dead thread\'s slots, the reservation\'s included, are free');
    for (const thread of [1, 2]) {
      const { client } = await clientOnThread(r, (n) => n === thread, clients);
      assert.equal(errorCodeOf(await redeem(client, token)), 508, `landing on thread ${thread}`);
    }
    assert.equal(r.hub.quota.total, 0);
  });

  test('restarts of either thread, twice: the restarted thread gets fresh channels, the survivor drops the old one; forwarding works both ways after each', async (t) => {
    const r = await startThreads({ turnMaxAllocationsPerUser: 64 });
    const hub = watchHub(r.hub);
    const peer = await UdpEndpoint.open();
    const clients: RawTurnClient[] = [];
    t.after(async () => { for (const c of clients) c.close(); peer.close(); await r.sup.stop(); });
    const channels = () => [1, 2].map((n) => r.hub.threadStats(n)?.peerChannels);
    assert.deepEqual(channels(), [1, 1], 'one channel each way');
    await redeemAcross(r, 1, peer, clients, 'start 2->1');
    await redeemAcross(r, 2, peer, clients, 'start 1->2');
    const restarts = [0, 0];
    for (const victim of [1, 2, 1]) {
      restarts[victim - 1]!++;
      r.hub.crash(victim);
      const child = () => r.sup.whichChildren()[victim - 1]!;
      assert.ok(await poll(() => child().restarts === restarts[victim - 1] && child().state === 'running', 10_000, 50), `turn_relay_${victim} restarted`);
      // the survivor's old channel closed with the dead thread, the new one replaced it: one each, never more
      assert.ok(await poll(() => channels().every((n) => n === 1), 2_000), `channels after restarting ${victim}: ${channels().join(', ')}`);
      const label = `restart ${restarts[0]! + restarts[1]!} (thread ${victim})`;
      await redeemAcross(r, 1, peer, clients, `${label} 2->1`);
      await redeemAcross(r, 2, peer, clients, `${label} 1->2`);
      assert.deepEqual(channels(), [1, 1]);
    }
    assertMainOffDataPath(hub);
    t.diagnostic(`forwarded ${r.hub.forwardedDatagrams()}; the hub was told ${JSON.stringify(Object.fromEntries(hub.kinds))}`);
  });
});
