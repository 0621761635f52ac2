/**
 * Observability (docs/configuration.md): the Stately inspector relay, Prometheus
 * metrics, health endpoints, the admin API and logs, on real sockets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { createTurnClient } from 'werift-ice';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { TestClient } from '../helpers/client.js';
import { freePort } from '../helpers/fixtures.js';
import { memoryLogger, testServer } from '../helpers/server.js';
import { LocalRoomBus } from '../../src/rooms/room-bus.js';
import { DynamicSupervisor } from '../../src/otp/dynamic-supervisor.js';
import { poll, waitFor } from '../helpers/wait.js';

const SECRET = 'Sup3r-Secret-Pa55';
const TOKEN = 'admin-token-0123456789';
const users = { alice: SECRET, bob: SECRET };

async function http(port: number, path: string, init: RequestInit = {}): Promise<{ status: number; text: string; json: any; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** Makes `proto[name]` throw until the returned function puts it back. */
function forbid(proto: object, name: string): () => void {
  const methods = proto as Record<string, unknown>;
  const original = methods[name];
  methods[name] = () => {
    throw new Error(`the scrape walked ${name}()`);
  };
  return () => {
    methods[name] = original;
  };
}

const bearer = (token = TOKEN) => ({ headers: { authorization: `Bearer ${token}` } });

/** The value of one sample of the Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('inspector', () => {
  test('a real session arrives as actor, event and snapshot messages, with no password anywhere', async (t) => {
    const inspectPort = await freePort();
    const server = await testServer({ auth: { users }, inspect: inspectPort });
    t.after(() => server.stop());
    const received: StatelyInspectionEvent[] = [];
    const raw: string[] = [];
    const receiver = createWebSocketReceiver({ server: `ws://127.0.0.1:${inspectPort}` });
    receiver.subscribe((event) => {
      received.push(event);
      raw.push(JSON.stringify(event));
    });
    // The relay replays what came before the receiver connected: the supervisors.
    await waitFor(() => received.some((e) => e.type === '@xstate.actor' && e.sessionId === 'supervisor:root_sup'), 5000, 'root_sup actor');

    const a = await TestClient.join(server.port, 'inspected', 'alice', SECRET);
    const b = await TestClient.join(server.port, 'inspected', 'bob', SECRET);
    await a.next(); // joined
    a.sendJson({ event: 'hello', data: 1 });
    await b.next();
    b.close();
    await a.next(); // left

    const actorNames = () => received.filter((e) => e.type === '@xstate.actor').map((e) => (e as { name: string }).name);
    await waitFor(() => actorNames().filter((n) => n === 'connection').length >= 2 && actorNames().includes('room'), 5000, 'connection and room actors');
    await waitFor(() => received.some((e) => e.type === '@xstate.snapshot' && (e.snapshot as { value?: unknown }).value === 'inRoom'), 5000, 'inRoom snapshot');
    await waitFor(
      () => received.some((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'frame.authenticate'),
      5000,
      'authenticate event',
    );
    await waitFor(() => received.some((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'room.leave'), 5000, 'room.leave event');
    const message = await waitFor(
      () => received.find((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'frame.message'),
      5000,
      'the message, as an event of the sender',
    );
    assert.deepEqual((message as unknown as { event: { payload: unknown } }).event.payload, { event: 'hello', data: 1 });
    const auth = received.find((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'frame.authenticate')!;
    assert.deepEqual((auth as { event: unknown }).event, { type: 'frame.authenticate', credentials: { username: 'alice', password: '[redacted]' } });
    assert.ok(actorNames().includes('supervisor:connection_sup'), 'dynamic supervisors are shown too');
    assert.equal(raw.filter((r) => r.includes(SECRET)).length, 0, 'no password in any inspection message');
    a.close();
  });
});

describe('metrics and health', () => {
  test('/metrics shows the session live; /healthz and /readyz answer', async (t) => {
    const server = await testServer({ auth: { users }, callbacks: { join: () => { throw new Error('boom'); } } });
    t.after(() => server.stop());
    const a = await TestClient.join(server.port, 'm', 'alice', SECRET);
    const b = await TestClient.join(server.port, 'm', 'bob', SECRET);
    await a.next();
    a.sendJson({ n: 1 });
    await b.next();
    a.sendJson({ n: 2, to: b.peerId });
    await b.next();
    a.send('not json');
    await a.next();
    const bad = await TestClient.open(server.port, 'm');
    bad.sendJson({ event: 'authenticate', data: { username: 'alice', password: 'wrong' } });
    await bad.next();

    const m = await http(server.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
    assert.equal(sample(m.text, 'webrtc_messages_forwarded_total{path="broadcast"}'), 1);
    assert.equal(sample(m.text, 'webrtc_messages_forwarded_total{path="unicast"}'), 1);
    assert.equal(sample(m.text, 'webrtc_messages_dropped_total{reason="invalid_json"}'), 1);
    assert.equal(sample(m.text, 'webrtc_auth_failures_total{transport="signaling"}'), 1);
    assert.equal(sample(m.text, 'webrtc_callback_errors_total'), 2);
    assert.equal(sample(m.text, 'webrtc_connections{state="inRoom"}'), 2);
    assert.equal(sample(m.text, 'webrtc_connections{state="unauthenticated"}'), 1);
    assert.equal(sample(m.text, 'webrtc_rooms'), 1);
    assert.equal(sample(m.text, 'webrtc_room_members'), 2);
    assert.ok(m.text.includes('webrtc_server_nodejs_eventloop_lag_seconds'), 'event-loop lag');

    b.close();
    await a.next();
    const after = await http(server.port, '/metrics');
    assert.equal(sample(after.text, 'webrtc_room_members'), 1, 'gauges follow the session');

    assert.deepEqual((await http(server.port, '/healthz')).json, { status: 'ok' });
    const ready = await http(server.port, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { ready: true, draining: false, listeners: { signaling: true, turn: null } });
    a.close();
    bad.close();
  });

  test('a scrape walks no connection, room or member: the gauges are counted as they change', async (t) => {
    const server = await testServer({ auth: { users } });
    t.after(() => server.stop());
    const members: TestClient[] = [];
    for (let i = 0; i < 24; i++) members.push(await TestClient.join(server.port, `room${i % 6}`, i % 2 ? 'alice' : 'bob', SECRET));
    const waiting = [await TestClient.open(server.port, 'x'), await TestClient.open(server.port, 'y')];
    const scrape = async () => {
      const restore = [forbid(LocalRoomBus.prototype, 'members'), forbid(LocalRoomBus.prototype, 'rooms'), forbid(DynamicSupervisor.prototype, 'workers')];
      try {
        return (await http(server.port, '/metrics')).text;
      } finally {
        for (const undo of restore) undo();
      }
    };
    const until = (series: string, value: number) => poll(async () => sample(await scrape(), series) === value, 5_000, 50);
    let m = await scrape();
    assert.ok(!/nodejs_active_(handles|resources)/.test(m), 'no default metric that walks every handle');
    assert.ok((sample(m, 'webrtc_server_process_open_fds') ?? 0) > 26, 'open fds are still reported (read off the event loop)');
    assert.equal(sample(m, 'webrtc_connections{state="inRoom"}'), 24);
    assert.equal(sample(m, 'webrtc_connections{state="unauthenticated"}'), 2);
    assert.equal(sample(m, 'webrtc_rooms'), 6);
    assert.equal(sample(m, 'webrtc_room_members'), 24);
    for (const c of [...members.slice(0, 4), waiting[0]!]) c.close();
    await until('webrtc_room_members', 20);
    await until('webrtc_connections{state="unauthenticated"}', 1);
    m = await scrape();
    assert.equal(sample(m, 'webrtc_connections{state="inRoom"}'), 20);
    assert.equal(sample(m, 'webrtc_room_members'), 20);
    assert.equal(sample(m, 'webrtc_rooms'), 6);
    for (const c of [...members.slice(4), waiting[1]!]) c.close();
    await until('webrtc_room_members', 0);
    await until('webrtc_connections{state="unauthenticated"}', 0);
    m = await scrape();
    assert.equal(sample(m, 'webrtc_rooms'), 0);
    assert.equal(sample(m, 'webrtc_connections{state="inRoom"}'), 0);
    assert.equal(sample(m, 'webrtc_connections{state="unauthenticated"}'), 0);
  });

  test('metricsPort: /metrics and /admin/* move to a loopback listener; health stays on both', async (t) => {
    const server = await testServer({ auth: { users }, metricsPort: 0, adminToken: TOKEN });
    t.after(() => server.stop());
    const loopback = server.metricsAddress();
    assert.ok(loopback, 'the metrics listener runs');
    assert.equal(loopback.host, '127.0.0.1');
    assert.equal((await http(server.port, '/metrics')).status, 404, 'not on the signaling listener');
    assert.equal((await http(server.port, '/admin/rooms', bearer())).status, 404);
    assert.equal((await http(server.port, '/healthz')).status, 200);
    assert.equal((await http(server.port, '/readyz')).status, 200);
    const m = await http(loopback.port, '/metrics');
    assert.equal(m.status, 200);
    assert.ok(m.text.includes('webrtc_connections{state="inRoom"}'));
    assert.equal((await http(loopback.port, '/admin/rooms', bearer())).status, 200);
    assert.equal((await http(loopback.port, '/healthz')).status, 200);
    assert.equal((await http(loopback.port, '/nothing')).status, 404);
    const tree = (await http(loopback.port, '/admin/tree', bearer())).json.tree[0].children.map((c: { id: string }) => c.id);
    assert.ok(tree.includes('metrics_listener'), JSON.stringify(tree));
  });

  test('two servers in one process keep separate metrics', async (t) => {
    const one = await testServer({ auth: { users } });
    const two = await testServer({ auth: { users } });
    t.after(() => Promise.all([one.stop(), two.stop()]));
    const a = await TestClient.join(one.port, 'r', 'alice', SECRET);
    const b = await TestClient.join(one.port, 'r', 'bob', SECRET);
    await a.next();
    a.sendJson({ x: 1 });
    await b.next();
    assert.equal(sample((await http(one.port, '/metrics')).text, 'webrtc_messages_forwarded_total{path="broadcast"}'), 1);
    assert.equal(sample((await http(two.port, '/metrics')).text, 'webrtc_messages_forwarded_total{path="broadcast"}'), 0);
    a.close();
    b.close();
  });

  test('readiness turns false once the server drains', async (t) => {
    const server = await testServer({ auth: { users } });
    assert.equal(server.health().ready, true);
    const stopping = server.stop();
    assert.deepEqual(server.health().draining, true);
    assert.equal(server.health().ready, false);
    await stopping;
    t.diagnostic('stopped');
  });
});

describe('TURN metrics', () => {
  test('a real TURN session: allocations, permissions and channels while it is open; relayed bytes both ways', async (t) => {
    const LIFETIME = 2; // s: the allocation of a closed client (werift sends no Refresh 0) ends soon after
    const server = await testServer({ auth: { users }, turnPort: 0, allowLoopbackPeers: true, turnLifetime: LIFETIME });
    t.after(() => server.stop());
    const metrics = async () => (await http(server.port, '/metrics')).text;
    const before = await metrics();
    assert.equal(sample(before, 'webrtc_turn_allocations{kind="allocations"}'), 0);
    assert.equal(sample(before, 'webrtc_turn_relayed_bytes_total'), 0);

    // a UDP peer that echoes what it gets
    const peer = createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', () => resolve()));
    t.after(() => peer.close());
    let peerGot = 0;
    peer.on('message', (data: Buffer, from: RemoteInfo) => {
      peerGot += data.length;
      peer.send(data, from.port, from.address);
    });

    const turn = server.turnAddress()!;
    const client = await createTurnClient({ address: [turn.host, turn.port], username: 'alice', password: SECRET }, { lifetime: LIFETIME });
    t.after(() => client.close());
    const echoed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo through TURN within 5000 ms')), 5000);
      const sub = client.onData.subscribe((data) => {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve(data.length);
      });
    });
    const payload = Buffer.from('through the relay and back');
    await client.sendData(payload, ['127.0.0.1', peer.address().port]); // werift binds a channel first
    assert.equal(await echoed, payload.length);
    assert.equal(peerGot, payload.length);

    const open = await metrics();
    assert.ok(sample(open, 'webrtc_turn_allocations{kind="allocations"}')! >= 1, 'allocations');
    assert.ok(sample(open, 'webrtc_turn_allocations{kind="permissions"}')! >= 1, 'permissions');
    assert.ok(sample(open, 'webrtc_turn_allocations{kind="channels"}')! >= 1, 'channels');
    // client -> peer and peer -> client, payload bytes
    assert.equal(sample(open, 'webrtc_turn_relayed_bytes_total'), 2 * payload.length);

    await client.close();
    const deadline = Date.now() + 5 * LIFETIME * 1000;
    let text = await metrics();
    while (sample(text, 'webrtc_turn_allocations{kind="allocations"}') !== 0) {
      if (Date.now() > deadline) assert.fail(`the allocation did not end after its lifetime:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
      text = await metrics();
    }
    assert.equal(sample(text, 'webrtc_turn_allocations{kind="permissions"}'), 0);
    assert.equal(sample(text, 'webrtc_turn_allocations{kind="channels"}'), 0);
    assert.equal(sample(text, 'webrtc_turn_relayed_bytes_total'), 2 * payload.length, 'a counter never goes down');
  });
});

describe('admin API', () => {
  test('off without adminToken: /admin/* is 404', async (t) => {
    const server = await testServer({ auth: { users } });
    t.after(() => server.stop());
    assert.equal((await http(server.port, '/admin/tree', bearer())).status, 404);
  });

  test('401 without the right bearer token', async (t) => {
    const server = await testServer({ auth: { users }, adminToken: TOKEN });
    t.after(() => server.stop());
    assert.equal((await http(server.port, '/admin/rooms')).status, 401);
    const wrong = await http(server.port, '/admin/rooms', bearer(`${TOKEN}x`));
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await http(server.port, '/admin/rooms', { headers: { authorization: TOKEN } })).status, 401);
  });

  test('tree, rooms, members, publish and kick', async (t) => {
    const leaves: string[] = [];
    const server = await testServer({ auth: { users }, adminToken: TOKEN, callbacks: { leave: (room, user, others) => void leaves.push(`${room}:${user}:${others.join(',')}`) } });
    t.after(() => server.stop());
    const a = await TestClient.join(server.port, 'salle 1', 'alice', SECRET);
    const b = await TestClient.join(server.port, 'salle 1', 'bob', SECRET);
    await a.next();

    const tree = await http(server.port, '/admin/tree', bearer());
    assert.equal(tree.status, 200);
    const root = tree.json.tree[0];
    assert.equal(root.id, 'root_sup');
    assert.deepEqual(root.children.map((c: { id: string }) => c.id), ['turn_sup', 'signaling_sup']);
    const signaling = root.children[1];
    assert.deepEqual(signaling.children.map((c: { id: string; state: string; restarts: number }) => [c.id, c.state, c.restarts]), [
      ['room_sup', 'running', 0],
      ['connection_sup', 'running', 0],
      ['signaling_listener', 'running', 0],
    ]);
    assert.deepEqual(signaling.children[0].children.map((c: { id: string }) => c.id), ['salle 1']);
    assert.equal(signaling.children[1].children.length, 2);

    assert.deepEqual((await http(server.port, '/admin/rooms', bearer())).json, { rooms: [{ room: 'salle 1', members: 2 }] });
    const room = await http(server.port, `/admin/rooms/${encodeURIComponent('salle 1')}`, bearer());
    assert.deepEqual(room.json, { room: 'salle 1', members: [{ peerId: a.peerId, username: 'alice' }, { peerId: b.peerId, username: 'bob' }] });
    assert.equal((await http(server.port, '/admin/rooms/nowhere', bearer())).status, 404);

    const publish = await http(server.port, `/admin/rooms/${encodeURIComponent('salle 1')}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'notice', data: { text: 'hi' } }),
    });
    assert.deepEqual(publish.json, { room: 'salle 1', recipients: 2 });
    assert.deepEqual((await a.next()).json, { event: 'notice', data: { text: 'hi' } });
    assert.deepEqual((await b.next()).json, { event: 'notice', data: { text: 'hi' } });
    const badBody = await http(server.port, '/admin/rooms/x/publish', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"data":1}' });
    assert.equal(badBody.status, 400);

    const kick = await http(server.port, `/admin/peers/${encodeURIComponent(b.peerId!)}/kick`, { method: 'POST', ...bearer() });
    assert.deepEqual(kick.json, { peerId: b.peerId, kicked: true });
    assert.deepEqual(await b.closed, { code: 1008, reason: 'kicked by an administrator' });
    assert.deepEqual((await a.next()).json, { event: 'left', data: { username: 'bob', peer_id: b.peerId } });
    await waitFor(() => leaves.length === 1, 2000, 'leave callback');
    assert.deepEqual(leaves, ['salle 1:bob:alice']);
    assert.equal((await http(server.port, '/admin/peers/nobody/kick', { method: 'POST', ...bearer() })).status, 404);
    const metrics = await http(server.port, '/metrics');
    assert.equal(sample(metrics.text, 'webrtc_kicks_total'), 1);
    a.close();
  });
});

describe('logs', () => {
  test('a child logger per connection carries peer_id and room; no secret is ever logged', async (t) => {
    const { logger, lines } = memoryLogger('trace');
    const server = await testServer({ auth: { users }, adminToken: TOKEN, logLevel: 'trace' }, logger);
    const a = await TestClient.join(server.port, 'logged', 'alice', SECRET);
    const wrong = await TestClient.open(server.port, 'logged');
    wrong.sendJson({ event: 'authenticate', data: { username: 'bob', password: `${SECRET}-wrong` } });
    await wrong.next();
    await http(server.port, '/admin/tree', bearer());
    a.close();
    await a.closed;
    await server.stop();
    const all = lines();
    const authenticated = all.find((l) => l.msg === 'joined');
    assert.ok(authenticated, 'a joined line');
    assert.equal(authenticated.peer_id, a.peerId);
    assert.equal(authenticated.room, 'logged');
    assert.equal(authenticated.username, 'alice');
    const text = JSON.stringify(all);
    assert.equal(text.includes(SECRET), false, 'no password in the logs');
    assert.equal(text.includes(TOKEN), false, 'no admin token in the logs');
  });
});
