/**
 * The TURN listener as a supervised child of turn_sup, over a real server
 * container: turnPort false/0, the same `auth` as signaling (users, async
 * function, REST secret), dev mode, restart after an engine failure on the
 * same port, and a process that stops TURN and exits by itself. Tests that
 * reach into the listener's own engine (its backend, an engine failure)
 * pin `turnThreads: 0`, so that UDP is the listener's on the main thread;
 * the rest run with the default (relay threads where Node has
 * SO_REUSEPORT). The threads themselves: relay-threads.test.ts.
 */
import 'reflect-metadata';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DependencyContainer } from 'tsyringe';
import { restPassword } from '../../src/auth/authenticator.js';
import { GUESS_THROTTLE, METRICS, REGISTRY, TURN_CREDENTIALS } from '../../src/di/tokens.js';
import type { Options } from '../../src/options.js';
import { TurnCredentialCache } from '../../src/turn/credential-cache.js';
import { TURN_LISTENER_NAME } from '../../src/names.js';
import type { TurnListener } from '../../src/turn/turn-listener.js';
import { Attr, encodeStun, longTermKey, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';
import { buildContainer, tree } from '../../supervisors/composition.js';
import type { Supervisor } from '../../src/otp/supervisor.js';
import { errorCodeOf, lifetimeOf, RawTurnClient, UdpEndpoint } from './helpers.js';
import { poll } from '../helpers/wait.js';

const BASE: Options = { host: '127.0.0.1', port: 0, turnPort: 0, logLevel: 'silent', allowLoopbackPeers: true };

async function startTurnSup(options: Options): Promise<{ c: DependencyContainer; sup: Supervisor; listener: () => TurnListener | undefined }> {
  const c = await buildContainer({ ...BASE, ...options });
  const sup = (await tree(c).turnSup.start()) as Supervisor;
  const registry = c.resolve(REGISTRY);
  return { c, sup, listener: () => registry.whereis<TurnListener>(TURN_LISTENER_NAME) };
}

function serverOf(listener: TurnListener): { address: string; port: number } {
  const a = listener.address()!;
  return { address: a.host, port: a.port };
}

describe('turn_sup', () => {
  test('turnPort false: no TURN child', async () => {
    const c = await buildContainer({ ...BASE, turnPort: false, auth: { users: { alice: 'pw' } } });
    assert.equal(tree(c).turnListener, null);
  });

  test('turnPort 0: one permanent worker, registered, on a real free port', async (t) => {
    const { sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, turnThreads: 0 });
    t.after(() => sup.stop());
    assert.deepEqual(sup.whichChildren().map((ch) => [ch.id, ch.type, ch.restart, ch.state]), [[TURN_LISTENER_NAME, 'worker', 'permanent', 'running']]);
    const address = listener()!.address()!;
    assert.equal(address.host, '127.0.0.1');
    assert.ok(address.port > 0 && address.port !== 3478);
    const client = await RawTurnClient.open(serverOf(listener()!));
    t.after(() => client.close());
    assert.equal((await client.request(StunMethod.BINDING, [])).cls, StunClass.SUCCESS);
    await sup.stop();
    assert.equal(listener(), undefined);
  });

  test('an engine failure is a crash: restarted on the same port, found again by name', async (t) => {
    const { sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, turnThreads: 0 });
    t.after(() => sup.stop());
    const first = listener()!;
    const port = first.address()!.port;
    // fault injection: the engine's listening socket errors
    (first as unknown as { backend: { socket: { emit(e: string, err: Error): void } } }).backend.socket.emit('error', new Error('injected'));
    assert.ok(await poll(() => listener() !== undefined && listener() !== first, 5_000, 50));
    assert.equal(listener()!.address()!.port, port);
    assert.equal(sup.whichChildren()[0]!.restarts, 1);
    const client = await RawTurnClient.open(serverOf(listener()!));
    t.after(() => client.close());
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
  });
});

describe('metrics', () => {
  test('relayed bytes reach the server\'s counter, from each incarnation of the listener', async (t) => {
    const { c, sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, turnThreads: 0 });
    t.after(() => sup.stop());
    const tally = c.resolve(METRICS).turnRelayed;
    const relayOnce = async (text: string) => {
      const client = await RawTurnClient.open(serverOf(listener()!));
      const peer = await UdpEndpoint.open();
      try {
        assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
        assert.equal((await client.createPermission(peer.address)).cls, StunClass.SUCCESS);
        client.sendIndication(peer.address, Buffer.from(text));
        assert.equal((await peer.next()).data.toString(), text);
      } finally {
        client.close();
        peer.close();
      }
    };
    await relayOnce('first');
    assert.equal(tally.total, 5);
    const first = listener()!;
    (first as unknown as { backend: { socket: { emit(e: string, err: Error): void } } }).backend.socket.emit('error', new Error('injected'));
    assert.ok(await poll(() => listener() !== undefined && listener() !== first, 5_000, 50));
    await relayOnce('second');
    assert.equal(tally.total, 11, 'the total carries on across the restart');
    assert.equal(listener()!.stats().relayedBytes, 6, 'the new backend counts its own');
  });
});

describe('hardening wiring: the server\'s metrics and guess throttle', () => {
  /** The value of one sample in the Prometheus text (0 when absent). */
  function sample(text: string, series: string): number {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  }

  test('TURN auth failures, throttled guesses and refusals reach /metrics; the guess throttle is the server\'s (shared with signaling)', async (t) => {
    const { c, sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, turnThreads: 0 });
    const guesser = await RawTurnClient.open(serverOf(listener()!), 'alice', 'guess');
    t.after(async () => { guesser.close(); await sup.stop(); });
    const server = serverOf(listener()!);
    guesser.learn(await guesser.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]));
    // 25 wrong passwords at once: the default throttle checks 20 (an IP's burst), drops 5
    for (let i = 0; i < 25; i++) {
      guesser.udp.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [
        [Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [Attr.USERNAME, Buffer.from('alice')],
        [Attr.REALM, Buffer.from(guesser.realm!)], [Attr.NONCE, Buffer.from(guesser.nonce!)],
      ], { integrityKey: longTermKey('alice', guesser.realm!, `guess-${i}`) }), server);
    }
    // 30 unauthenticated Allocates from one source: over its budget of 401s
    const flooder = await UdpEndpoint.open();
    t.after(() => flooder.close());
    for (let i = 0; i < 30; i++) flooder.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), []), server);
    let text = '';
    assert.ok(await poll(async () => {
      text = (await c.resolve(METRICS).expose()).body;
      return sample(text, 'webrtc_auth_failures_total{transport="turn"}') === 20
        && sample(text, 'webrtc_auth_throttled_total{transport="turn",scope="ip"}') === 5;
    }, 2000, 50), text.split('\n').filter((l) => /turn/.test(l) && !l.startsWith('#')).join('\n'));
    assert.ok(sample(text, 'webrtc_turn_refused_total{reason="challenge_rate"}') >= 1);
    assert.match(text, /webrtc_turn_refused_total\{reason="permission_quota"\} 0/, 'every reason has its series from the start');
    // the same throttle as signaling: the IP is now refused there too
    assert.equal(c.resolve(GUESS_THROTTLE).admit('127.0.0.1', 'anyone'), 'ip');
  });
});

describe('TURN auth is signaling\'s auth', () => {
  test('static users', async (t) => {
    const { sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } } });
    const good = await RawTurnClient.open(serverOf(listener()!), 'alice', 'alice-pw');
    const bad = await RawTurnClient.open(serverOf(listener()!), 'alice', 'nope');
    t.after(async () => { good.close(); bad.close(); await sup.stop(); });
    assert.equal((await good.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await bad.allocate()), 401);
  });

  test('an async auth function', async (t) => {
    const auth = async (username: string) => {
      await new Promise((r) => setTimeout(r, 10));
      return username === 'dora' ? 'dora-pw' : undefined;
    };
    const { sup, listener } = await startTurnSup({ auth });
    const client = await RawTurnClient.open(serverOf(listener()!), 'dora', 'dora-pw');
    t.after(async () => { client.close(); await sup.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.refresh()).cls, StunClass.SUCCESS);
  });

  test('REST shared secret: "<expiry>:<user>" with base64 HMAC-SHA1; refused once expired', async (t) => {
    const secret = 'rest-secret';
    const { sup, listener } = await startTurnSup({ auth: { secret } });
    const live = `${Math.floor(Date.now() / 1000) + 3600}:erin`;
    const expired = `${Math.floor(Date.now() / 1000) - 10}:erin`;
    const ok = await RawTurnClient.open(serverOf(listener()!), live, restPassword(secret, live));
    const late = await RawTurnClient.open(serverOf(listener()!), expired, restPassword(secret, expired));
    const forged = await RawTurnClient.open(serverOf(listener()!), live, restPassword('other', live));
    t.after(async () => { ok.close(); late.close(); forged.close(); await sup.stop(); });
    assert.equal((await ok.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await late.allocate()), 401);
    assert.equal(errorCodeOf(await forged.allocate()), 401);
  });

  test('the registered TURN_CREDENTIALS cache is used (signaling fills it)', async (t) => {
    const c = await buildContainer({ ...BASE, auth: { users: {} } });
    const cache = new TurnCredentialCache();
    c.register(TURN_CREDENTIALS, { useValue: cache });
    assert.equal(c.resolve(TURN_CREDENTIALS), cache);
    cache.remember('frank', 'frank-pw', 60_000);
    const sup = (await tree(c).turnSup.start()) as Supervisor;
    const listener = c.resolve(REGISTRY).whereis<TurnListener>(TURN_LISTENER_NAME)!;
    const client = await RawTurnClient.open(serverOf(listener), 'frank', 'frank-pw');
    t.after(async () => { client.close(); await sup.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
  });
});

describe('options', () => {
  test('dev mode (no auth): TURN and relays on 127.0.0.1, the demo users', async (t) => {
    const { sup, listener } = await startTurnSup({});
    const l = listener()!;
    const client = await RawTurnClient.open(serverOf(l), 'alice', 'demo');
    t.after(async () => { client.close(); await sup.stop(); });
    assert.equal(l.address()!.host, '127.0.0.1');
    assert.equal(l.relayAddress, '127.0.0.1');
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal(client.relay!.address, '127.0.0.1');
  });

  test('turnIp, relayPorts and turnLifetime', async (t) => {
    const { sup, listener } = await startTurnSup({
      auth: { users: { alice: 'alice-pw' } }, turnIp: '127.0.0.1', relayPorts: [51000, 51010], turnLifetime: 120,
    });
    const client = await RawTurnClient.open(serverOf(listener()!));
    t.after(async () => { client.close(); await sup.stop(); });
    const r = await client.allocate();
    assert.equal(lifetimeOf(r), 120);
    assert.ok(client.relay!.port >= 51000 && client.relay!.port <= 51010);
  });

  test('allowLoopbackPeers false (the default): loopback peer 403', async (t) => {
    const { sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, allowLoopbackPeers: false });
    const client = await RawTurnClient.open(serverOf(listener()!));
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await sup.stop(); });
    await client.allocate();
    assert.equal(errorCodeOf(await client.createPermission(peer.address)), 403);
  });

  test('turnDeniedPeers refuses a loopback peer even with allowLoopbackPeers', async (t) => {
    const { sup, listener } = await startTurnSup({ auth: { users: { alice: 'alice-pw' } }, allowLoopbackPeers: true, turnDeniedPeers: ['127.0.0.0/8'] });
    const client = await RawTurnClient.open(serverOf(listener()!));
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await sup.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await client.createPermission(peer.address)), 403);
    assert.equal(errorCodeOf(await client.channelBind(0x4000, peer.address)), 403);
    client.sendIndication(peer.address, Buffer.from('nope'));
    assert.ok(await peer.silent(undefined, 200), 'nothing reaches the denied peer');
  });

  test('turnAllowedPeers admits an otherwise denied range, and wins over turnDeniedPeers', async (t) => {
    const { sup, listener } = await startTurnSup({
      auth: { users: { alice: 'alice-pw' } }, allowLoopbackPeers: false, turnAllowedPeers: ['127.0.0.1/32'], turnDeniedPeers: ['127.0.0.0/8'],
    });
    const client = await RawTurnClient.open(serverOf(listener()!));
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await sup.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.createPermission(peer.address)).cls, StunClass.SUCCESS);
    client.sendIndication(peer.address, Buffer.from('to peer'));
    assert.equal((await peer.next()).data.toString(), 'to peer');
    peer.send(Buffer.from('to client'), client.relay!);
    assert.equal((await client.nextDataIndication()).data.toString(), 'to client');
    // 127.0.0.2 is in the denied /8 and not in the allowed /32
    assert.equal(errorCodeOf(await client.createPermission({ address: '127.0.0.2', port: peer.address.port })), 403);
  });

  test('turnMaxAllocationsPerUser (486) and turnMaxAllocations (508)', async (t) => {
    const users = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
    const { sup, listener } = await startTurnSup({ auth: { users }, turnMaxAllocationsPerUser: 1, turnMaxAllocations: 2 });
    const clients = await Promise.all((['alice', 'alice', 'bob', 'carol'] as const).map((u) => RawTurnClient.open(serverOf(listener()!), u, users[u])));
    t.after(async () => { for (const c of clients) c.close(); await sup.stop(); });
    const [alice1, alice2, bob, carol] = clients as [RawTurnClient, RawTurnClient, RawTurnClient, RawTurnClient];
    assert.equal((await alice1.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await alice2.allocate()), 486, 'alice holds her one allocation');
    assert.equal((await bob.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await carol.allocate()), 508, 'two in all');
    assert.equal((await alice1.refresh(0)).cls, StunClass.SUCCESS);
    assert.equal((await carol.allocate()).cls, StunClass.SUCCESS, 'a freed allocation can be taken again');
  });
});

describe('stop releases every socket and timer', () => {
  test('a process that starts turn_sup, uses TURN and stops it exits by itself', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/turn-child.ts', import.meta.url)), 'turn_sup'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    assert.equal(out.trim(), 'stopped');
    assert.equal(exited, 0, 'the process exited by itself after stop()');
  });
});
