/**
 * `webrtc-server/client` in Node 20, against a real server with real `ws`
 * sockets on 127.0.0.1: one typed event per server message of PROTOCOL.md,
 * the keepalive `ping` under `idleTimeout`, reconnection (after the server's
 * side of a socket dies, after a dead line, after a restart on the same
 * port) with re-authentication, and a bounded, jittered backoff that stops
 * on `unauthorized`, on a kick and on `close()`.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { SignalingClient, SignalingClientOptions, SignalingEvents } from 'webrtc-server/client';
import { clientLibrary } from '../helpers/client-build.js';
import { freePort } from '../helpers/fixtures.js';
import { within } from '../helpers/protocol.js';
import { sleep, testServer, USERS } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const lib = await clientLibrary();

type Recorded = { [K in keyof SignalingEvents]: { type: K; payload: SignalingEvents[K]; at: number } }[keyof SignalingEvents];

/** A client whose every event is recorded, and whose sockets the test can reach. */
interface Probe {
  client: SignalingClient;
  events: Recorded[];
  sockets: WebSocket[];
  of<K extends keyof SignalingEvents>(type: K): SignalingEvents[K][];
}

const EVENT_TYPES: (keyof SignalingEvents)[] = [
  'state', 'open', 'authenticated', 'unauthorized', 'joined', 'left', 'invalid_message', 'message', 'server_event', 'pong', 'malformed',
  'disconnected', 'reconnecting', 'closed', 'error',
];

function probe(t: TestContext, port: number, username: keyof typeof USERS, options: Partial<SignalingClientOptions> = {}): Probe {
  const sockets: WebSocket[] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  const client = new lib.SignalingClient({
    url: `ws://127.0.0.1:${port}`,
    room: 'client-room',
    credentials: { username, password: USERS[username] },
    WebSocket: RecordingWebSocket,
    reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    ...options,
  });
  const events: Recorded[] = [];
  for (const type of EVENT_TYPES) client.on(type, (payload) => events.push({ type, payload, at: performance.now() } as Recorded));
  t.after(() => client.close());
  const of = <K extends keyof SignalingEvents>(type: K) => events.filter((e) => e.type === type).map((e) => e.payload as SignalingEvents[K]);
  return { client, events, sockets, of };
}

test('every server message becomes its typed event: authenticated, joined, message (unicast, broadcast), invalid_message (all four reasons), server_event, pong, left', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const alice = probe(t, server.port, 'alice');
  const bob = probe(t, server.port, 'bob');

  const a = await within(alice.client.connect(), 5000, 'alice authenticated');
  assert.deepEqual(a.peers, []);
  assert.equal(a.reconnected, false);
  assert.match(a.peerId, /^[A-Za-z0-9+/]{14}==$/);
  const b = await within(bob.client.connect(), 5000, 'bob authenticated');
  assert.deepEqual(b.peers, [{ peerId: a.peerId, username: 'alice' }]);
  await waitFor(() => alice.of('joined').length === 1, 5000, 'alice told bob joined');
  assert.deepEqual(alice.of('joined'), [{ peerId: b.peerId, username: 'bob' }]);
  assert.deepEqual(alice.client.peers(), [{ peerId: b.peerId, username: 'bob' }]);
  assert.deepEqual(alice.of('state'), ['connecting', 'authenticating', 'authenticated']);

  assert.equal(bob.client.sendTo(a.peerId, 'offer', { sdp: 'v=0' }), true);
  assert.equal(bob.client.broadcast('hello', [1, 2]), true);
  await waitFor(() => alice.of('message').length === 2, 5000, 'alice got both messages');
  const [unicast, broadcast] = alice.of('message');
  assert.deepEqual({ ...unicast, raw: undefined }, { event: 'offer', data: { sdp: 'v=0' }, from: b.peerId, to: a.peerId, raw: undefined });
  assert.deepEqual({ ...broadcast, raw: undefined }, { event: 'hello', data: [1, 2], from: b.peerId, raw: undefined });

  // The four refusals, provoked on alice's own socket where the client API would not send such frames.
  assert.equal(alice.client.sendTo('nosuchpeer', 'x'), true);
  const raw = alice.sockets[0]!;
  raw.send('{oops');
  raw.send('{"event":"x","to":5}');
  raw.send(JSON.stringify({ event: 'authenticate', data: { username: 'alice', password: USERS.alice } }));
  await waitFor(() => alice.of('invalid_message').length === 4, 5000, 'four invalid_message');
  assert.deepEqual(alice.of('invalid_message'), [
    { reason: 'unknown_peer', peerId: 'nosuchpeer' },
    { reason: 'invalid_json' },
    { reason: 'invalid_to' },
    { reason: 'already_authenticated' },
  ]);

  assert.equal(server.publish('client-room', 'notice', { text: 'hi' }), 2);
  assert.equal(server.send(a.peerId, 'bare'), true);
  await waitFor(() => alice.of('server_event').length === 2 && bob.of('server_event').length === 1, 5000, 'server events');
  assert.deepEqual(alice.of('server_event'), [{ event: 'notice', data: { text: 'hi' } }, { event: 'bare' }]);

  assert.equal(alice.client.ping(), true);
  await waitFor(() => alice.of('pong').length === 1, 5000, 'pong');
  assert.ok(alice.of('pong')[0]!.rttMs >= 0 && alice.of('pong')[0]!.rttMs < 5000);

  bob.client.close();
  await waitFor(() => alice.of('left').length === 1, 5000, 'alice told bob left');
  assert.deepEqual(alice.of('left'), [{ peerId: b.peerId, username: 'bob' }]);
  assert.deepEqual(alice.client.peers(), []);
  assert.deepEqual(bob.of('closed'), [{ code: 1000, reason: 'closed by client', cause: 'closed-by-client' }]);
  assert.equal(bob.client.sendTo(a.peerId, 'late'), false, 'a closed client sends nothing');
  assert.deepEqual([...alice.of('malformed'), ...alice.of('error')], []);
});

test('unauthorized: the event, connect() rejects, the client closes and never reconnects', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const mallory = probe(t, server.port, 'alice', { credentials: { username: 'alice', password: 'wrong' } });
  await assert.rejects(within(mallory.client.connect(), 5000, 'refusal'), /unauthorized/);
  assert.deepEqual(mallory.of('unauthorized'), [{ username: 'alice' }]);
  assert.deepEqual(mallory.of('closed'), [{ code: 1000, reason: 'unauthorized', cause: 'unauthorized' }]);
  await sleep(600); // longer than the largest backoff delay of the probe (400 ms)
  assert.equal(mallory.sockets.length, 1, 'no second connection');
  assert.deepEqual(mallory.of('reconnecting'), []);
  assert.equal(mallory.client.state, 'closed');
});

test('keepalive: pings every pingIntervalMs keep a socket open past the server\'s idleTimeout; without them the server closes it (1000) and the client reconnects', async (t) => {
  const server = await testServer({ idleTimeout: 600 });
  t.after(() => server.stop());
  const pinging = probe(t, server.port, 'alice', { pingIntervalMs: 200 });
  const silent = probe(t, server.port, 'bob', { pingIntervalMs: 60_000 });
  await within(Promise.all([pinging.client.connect(), silent.client.connect()]), 5000, 'both authenticated');
  await sleep(2000);
  assert.deepEqual(pinging.of('disconnected'), [], 'the pinging client was never closed');
  assert.ok(pinging.of('pong').length >= 7, `pongs: ${pinging.of('pong').length}`);
  const dropped = silent.of('disconnected');
  assert.ok(dropped.length >= 1, 'the silent client was closed for idleness');
  assert.deepEqual(dropped[0], { code: 1000, reason: 'idle timeout', willReconnect: true });
  await waitFor(() => silent.of('authenticated').length >= 2, 5000, 'the silent client back in the room');
  assert.equal(silent.of('authenticated')[1]!.reconnected, true);
});

test('reconnect after the server\'s side of the socket dies: re-authenticates with a new peer id, the room sees left then joined', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const proxy = await TcpProxy.start(server.port);
  t.after(() => proxy.stop());
  const alice = probe(t, server.port, 'alice');
  const bob = probe(t, proxy.port, 'bob');
  await within(alice.client.connect(), 5000, 'alice');
  const first = await within(bob.client.connect(), 5000, 'bob');

  proxy.drop();
  await waitFor(() => bob.of('authenticated').length === 2, 5000, 'bob re-authenticated');
  const second = bob.of('authenticated')[1]!;
  assert.equal(second.reconnected, true);
  assert.notEqual(second.peerId, first.peerId);
  assert.deepEqual(second.peers.map((p) => p.username), ['alice']);
  assert.equal(bob.of('disconnected')[0]!.code, 1006);
  assert.equal(bob.of('reconnecting')[0]!.attempt, 1);
  await waitFor(() => alice.of('joined').length === 2 && alice.of('left').length === 1, 5000, 'alice saw bob leave and come back');
  assert.deepEqual(alice.of('left'), [{ peerId: first.peerId, username: 'bob' }]);
  assert.deepEqual(alice.client.peers(), [{ peerId: second.peerId, username: 'bob' }]);
  assert.deepEqual(server.peers('client-room').map((p) => p.username), ['alice', 'bob']);
});

test('a dead line (no pong within pongTimeoutMs) is given up with 4000 and reconnected', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const proxy = await TcpProxy.start(server.port);
  t.after(() => proxy.stop());
  const bob = probe(t, proxy.port, 'bob', { pingIntervalMs: 100, pongTimeoutMs: 300 });
  await within(bob.client.connect(), 5000, 'bob');
  proxy.freeze();
  const frozenAt = performance.now();
  await waitFor(() => bob.of('authenticated').length === 2, 5000, 'bob back through a new connection');
  const gone = bob.events.find((e) => e.type === 'disconnected')!;
  assert.deepEqual(gone.payload, { code: lib.CLOSE_KEEPALIVE_TIMEOUT, reason: 'keepalive timeout: no pong', willReconnect: true });
  const detectedMs = gone.at - frozenAt;
  assert.ok(detectedMs >= 250 && detectedMs < 1500, `dead line detected after ${detectedMs.toFixed(0)} ms (ping every 100, pong timeout 300)`);
});

test('reconnect after a server restart on the same port: members are back in the room', async (t) => {
  const port = await freePort();
  let server = await testServer({ port });
  t.after(() => server.stop());
  const alice = probe(t, port, 'alice');
  const bob = probe(t, port, 'bob');
  await within(Promise.all([alice.client.connect(), bob.client.connect()]), 5000, 'both in');

  await server.stop();
  await waitFor(() => alice.of('reconnecting').length >= 2, 5000, 'alice retrying while the server is down');
  assert.equal(alice.of('disconnected')[0]!.code, 1001);
  server = await testServer({ port });
  const restartedAt = performance.now();
  // Back means in the server's room and told so (the server counts a member before its `authenticated` arrives).
  const back = () => server.peers('client-room').length === 2 && [alice, bob].every((p) => p.of('authenticated').length >= 2);
  await waitFor(back, 10_000, 'both members back');
  const backMs = performance.now() - restartedAt;
  assert.ok(backMs < 2000, `back ${backMs.toFixed(0)} ms after the restart (backoff capped at 400 ms)`);
  assert.equal(alice.of('authenticated').at(-1)!.reconnected, true);
  assert.equal(alice.client.state, 'authenticated');
  // Whoever came back second was told of the first.
  const peerCounts = [alice, bob].map((p) => p.of('authenticated').at(-1)!.peers.length).sort();
  assert.deepEqual(peerCounts, [0, 1]);
});

test('backoff: delays grow, never exceed maxDelayMs, are jittered, and the client gives up after maxAttempts', async (t) => {
  const options = lib.resolveBackoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 });
  assert.deepEqual([1, 2, 3, 4, 5, 10, 60].map((n) => lib.backoffDelay(options, n, () => 0)), [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.deepEqual([1, 2, 5].map((n) => lib.backoffDelay(options, n, () => 0.999999)), [50, 100, 500]);
  assert.throws(() => lib.resolveBackoff({ maxDelayMs: 10, initialDelayMs: 100 }), /maxDelayMs/);
  assert.throws(() => lib.resolveBackoff({ jitter: 2 }), /jitter/);

  const port = await freePort(); // nothing listens there
  const lost = probe(t, port, 'alice', { reconnect: { initialDelayMs: 20, maxDelayMs: 80, maxAttempts: 6 } });
  await assert.rejects(within(lost.client.connect(), 10_000, 'giving up'), /gave-up/);
  const delays = lost.of('reconnecting').map((r) => r.delayMs);
  assert.equal(delays.length, 6, JSON.stringify(delays));
  assert.ok(delays.every((d) => d <= 80), `bounded: ${delays}`);
  assert.ok(delays.slice(3).every((d) => d >= 40), `capped delays, jittered down at most by half: ${delays}`);
  assert.equal(lost.sockets.length, 7, 'the first try and 6 reconnections');
  assert.equal(lost.of('closed')[0]!.cause, 'gave-up');
  const opens = lost.events.filter((e) => e.type === 'reconnecting').map((e) => e.at);
  for (let i = 1; i < opens.length; i++) assert.ok(opens[i]! - opens[i - 1]! >= delays[i - 1]! - 5, 'each attempt waited its delay');

  // Two clients dropped together do not come back in lockstep.
  const spread = new Set(Array.from({ length: 20 }, () => lib.backoffDelay(options, 3)));
  assert.ok(spread.size > 5, `jitter spreads delays: ${[...spread]}`);
});

test('no reconnection after a kick (1008) or after close() while waiting to reconnect', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const kicked = probe(t, server.port, 'alice');
  const { peerId } = await within(kicked.client.connect(), 5000, 'alice');
  assert.equal(server.kick(peerId), true);
  await waitFor(() => kicked.of('closed').length === 1, 5000, 'closed for good');
  assert.deepEqual(kicked.of('closed'), [{ code: 1008, reason: 'kicked by an administrator', cause: 'policy' }]);

  const proxy = await TcpProxy.start(server.port);
  t.after(() => proxy.stop());
  const leaving = probe(t, proxy.port, 'bob', { reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } });
  await within(leaving.client.connect(), 5000, 'bob');
  proxy.drop();
  await waitFor(() => leaving.of('reconnecting').length === 1, 5000, 'reconnection scheduled');
  leaving.client.close();
  await sleep(500);
  assert.equal(leaving.sockets.length, 1, 'the scheduled reconnection was cancelled');
  assert.equal(leaving.of('closed')[0]!.cause, 'closed-by-client');
  await sleep(50);
  assert.equal(kicked.sockets.length, 1);
});

test('options are checked: no WebSocket class, bad intervals, an empty room', () => {
  const base = { url: 'ws://127.0.0.1:1', room: 'r', credentials: { username: 'u', password: 'p' } };
  // Node 22+ has a global WebSocket (Node 20 has none): hide it to check the error
  const global = globalThis as { WebSocket?: unknown };
  const saved = global.WebSocket;
  delete global.WebSocket;
  try {
    assert.throws(() => new lib.SignalingClient(base), /no global WebSocket/);
  } finally {
    if (saved !== undefined) global.WebSocket = saved;
  }
  assert.throws(() => new lib.SignalingClient({ ...base, WebSocket, pingIntervalMs: 0 }), /pingIntervalMs/);
  assert.throws(() => new lib.SignalingClient({ ...base, WebSocket, room: '' }), /room/);
  assert.equal(new lib.SignalingClient({ ...base, WebSocket, url: 'https://example.org:8443/x', room: 'a b/c' }).url, 'wss://example.org:8443/websocket/a%20b%2Fc');
});
