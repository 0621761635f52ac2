/**
 * Rooms that span servers (`redisUrl`): two and three servers on one real
 * redis-server, real `ws` clients, every row of the protocol across them.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../helpers/client.js';
import { authFrame, CallbackLog, nextJson } from '../helpers/protocol.js';
import type { CallbackCall } from '../helpers/protocol.js';
import { RedisProcess, redisSkip } from '../helpers/redis.js';
import { testServer, USERS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { startServer } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { Redis } from 'ioredis';
import { CLUSTER_PREFIX, JOIN } from '../../src/cluster/scripts.js';

type Server = Awaited<ReturnType<typeof testServer>>;

async function servers(t: TestContext, n: number, options: (i: number) => Options = () => ({})): Promise<{ redis: RedisProcess; nodes: Server[] }> {
  const redis = await RedisProcess.start(t);
  const nodes: Server[] = [];
  for (let i = 0; i < n; i++) {
    const server = await testServer({ redisUrl: redis.url, ...options(i) });
    t.after(() => server.stop());
    nodes.push(server);
  }
  for (const node of nodes) await waitFor(() => node.health().ready, 10_000, 'cluster ready');
  return { redis, nodes };
}

const metricsOf = async (server: Server) => (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
const joined = (c: TestClient, username: string) => ({ event: 'joined', data: { peer_id: c.peerId, username } });
const left = (c: TestClient, username: string) => ({ event: 'left', data: { username, peer_id: c.peerId } });

describe('a room across servers', { skip: redisSkip }, () => {
  test('joined, authenticated with peers, broadcast, unicast, left, peers in join order', async (t) => {
    const { nodes: [a, b] } = await servers(t, 2);
    const alice = await TestClient.join(a!.port, 'split', 'alice', USERS.alice);
    const bob = await TestClient.open(b!.port, 'split');
    bob.sendJson(authFrame('bob', USERS.bob));
    const auth = await nextJson(bob, 5000);
    bob.peerId = auth.data.peer_id;
    assert.deepEqual(auth.data.peers, [{ peer_id: alice.peerId, username: 'alice' }]);
    assert.deepEqual((await alice.next(5000)).json, joined(bob, 'bob'));
    const order = [a!, b!].map((s) => s.peers('split'));
    for (const peers of order) assert.deepEqual(peers, [{ peerId: alice.peerId, username: 'alice' }, { peerId: bob.peerId, username: 'bob' }]);

    alice.sendJson({ event: 'offer', data: { sdp: 'x' } });
    assert.deepEqual((await bob.next(5000)).json, { event: 'offer', data: { sdp: 'x' }, from: alice.peerId });
    bob.sendJson({ event: 'answer', to: alice.peerId });
    assert.deepEqual((await alice.next(5000)).json, { event: 'answer', to: alice.peerId, from: bob.peerId });
    bob.sendJson({ event: 'x', to: 'nobody-here' });
    assert.deepEqual((await bob.next(5000)).json, { event: 'invalid_message', data: { reason: 'unknown_peer', peer_id: 'nobody-here' } });

    bob.close();
    assert.deepEqual((await alice.next(5000)).json, left(bob, 'bob'));
    await waitFor(() => a!.peers('split').length === 1 && b!.peers('split').length === 1, 5000, 'peers updated everywhere');
    alice.close();
  });
});

/** Joins `username` on `server`, then drains every other client's `joined` for it. */
async function joinOn(server: Server, room: string, username: keyof typeof USERS, others: TestClient[]): Promise<TestClient> {
  const c = await TestClient.join(server.port, room, username, USERS[username]);
  for (const o of others) assert.deepEqual((await o.next(5000)).json, joined(c, username));
  return c;
}

describe('the server API and admin across servers', { skip: redisSkip }, () => {
  test('publish, send and kick reach members held by another server; admin rooms agree', async (t) => {
    const { nodes: [a, b] } = await servers(t, 2, () => ({ adminToken: 'admin-token-0123456789' }));
    const alice = await joinOn(a!, 'r', 'alice', []);
    const bob = await joinOn(b!, 'r', 'bob', [alice]);
    assert.equal(a!.publish('r', 'notice', { n: 1 }), 2);
    assert.deepEqual((await alice.next(5000)).json, { event: 'notice', data: { n: 1 } });
    assert.deepEqual((await bob.next(5000)).json, { event: 'notice', data: { n: 1 } });
    assert.equal(a!.send(bob.peerId!, 'direct'), true);
    assert.deepEqual((await bob.next(5000)).json, { event: 'direct' });
    assert.equal(a!.send('no-such-peer', 'direct'), false);
    for (const server of [a!, b!]) {
      const res = await fetch(`http://127.0.0.1:${server.port}/admin/rooms`, { headers: { authorization: 'Bearer admin-token-0123456789' } });
      assert.deepEqual(await res.json(), { rooms: [{ room: 'r', members: 2 }] });
    }
    assert.equal(a!.kick(bob.peerId!), true, 'a peer of the other server');
    assert.equal((await bob.closed).code, 1008);
    assert.deepEqual((await alice.next(5000)).json, left(bob, 'bob'));
    assert.equal(a!.kick('no-such-peer'), false);
    alice.close();
  });
});

describe('callbacks run once in the whole cluster', { skip: redisSkip }, () => {
  test('create on the server whose join made the room non-empty, join/leave where they happened, others in join order', async (t) => {
    const logs = [new CallbackLog(), new CallbackLog(), new CallbackLog()];
    const { nodes } = await servers(t, 3, (i) => ({ callbacks: logs[i]!.callbacks() }));
    const all = () => logs.flatMap((log, i) => log.calls.map((c) => ({ ...c, on: i })));
    const alice = await joinOn(nodes[0]!, 'cb', 'alice', []);
    const bob = await joinOn(nodes[1]!, 'cb', 'bob', [alice]);
    const carol = await joinOn(nodes[2]!, 'cb', 'carol', [alice, bob]);
    await waitFor(() => all().length >= 4, 5000, 'create and three joins');
    bob.close();
    for (const c of [alice, carol]) assert.deepEqual((await c.next(5000)).json, left(bob, 'bob'));
    alice.close();
    assert.deepEqual((await carol.next(5000)).json, left(alice, 'alice'));
    carol.close();
    await waitFor(() => all().length >= 7, 5000, 'three leaves');
    const calls = all().map(({ kind, username, others, on }) => ({ kind, username, others, on }));
    // Each server keeps its own log: compare them by username, not by time across servers.
    const sorted = (kind: CallbackCall['kind']) => calls.filter((c) => c.kind === kind).sort((x, y) => x.username.localeCompare(y.username));
    assert.deepEqual(sorted('create'), [{ kind: 'create', username: 'alice', others: [], on: 0 }]);
    assert.deepEqual(sorted('join'), [
      { kind: 'join', username: 'alice', others: [], on: 0 },
      { kind: 'join', username: 'bob', others: ['alice'], on: 1 },
      { kind: 'join', username: 'carol', others: ['alice', 'bob'], on: 2 },
    ]);
    assert.deepEqual(sorted('leave'), [
      { kind: 'leave', username: 'alice', others: ['carol'], on: 0 },
      { kind: 'leave', username: 'bob', others: ['alice', 'carol'], on: 1 },
      { kind: 'leave', username: 'carol', others: [], on: 2 },
    ]);
    // A new incarnation of the room: create again, once.
    const again = await joinOn(nodes[1]!, 'cb', 'bob', []);
    await waitFor(() => all().filter((c) => c.kind === 'create').length === 2, 5000, 'second create');
    assert.equal(all().filter((c) => c.kind === 'create').at(-1)!.on, 1);
    again.close();
  });
});

describe('order and fan-out across three servers', { skip: redisSkip }, () => {
  test('every member gets every frame of one sender, in order, whatever server it is on', async (t) => {
    const { nodes } = await servers(t, 3);
    const alice = await joinOn(nodes[0]!, 'o', 'alice', []);
    const bob = await joinOn(nodes[1]!, 'o', 'bob', [alice]);
    const carol = await joinOn(nodes[2]!, 'o', 'carol', [alice, bob]);
    const frames = 300;
    for (let i = 0; i < frames; i++) {
      if (i % 3 === 0) alice.sendJson({ n: i, to: bob.peerId });
      else alice.sendJson({ n: i });
    }
    const got = async (c: TestClient, expected: number[]) => {
      for (const n of expected) assert.equal((await c.next(10_000)).json.n, n);
    };
    const all = Array.from({ length: frames }, (_, i) => i);
    await Promise.all([got(bob, all), got(carol, all.filter((i) => i % 3 !== 0))]);
    assert.equal(await carol.silent(200), true);
    for (const c of [alice, bob, carol]) c.close();
  });
});

describe('Redis that fails', { skip: redisSkip }, () => {
  test('while Redis is away /readyz is 503 and members of one server keep talking; when it is back the rooms are repaired', async (t) => {
    const { redis, nodes: [a, b] } = await servers(t, 2);
    const alice = await joinOn(a!, 'outage', 'alice', []);
    const carol = await joinOn(a!, 'outage', 'carol', [alice]);
    const bob = await joinOn(b!, 'outage', 'bob', [alice, carol]);

    await redis.stop();
    await waitFor(() => !a!.health().ready && !b!.health().ready, 10_000, 'both servers not ready');
    const readyz = await fetch(`http://127.0.0.1:${a!.port}/readyz`);
    assert.equal(readyz.status, 503);
    assert.equal((await readyz.json() as { cluster: boolean }).cluster, false);
    assert.match(await metricsOf(a!), /^webrtc_cluster_up 0$/m);

    alice.sendJson({ n: 1 });
    assert.deepEqual((await carol.next(5000)).json, { n: 1, from: alice.peerId }, 'same-server members keep talking');
    // While Redis is away: bob leaves on B, dave joins on A.
    bob.close();
    await bob.closed;
    const erin = await TestClient.open(a!.port, 'outage');
    erin.sendJson(authFrame('alice', USERS.alice)); // a second alice joins on A during the outage
    const erinAuth = await nextJson(erin, 5000);
    erin.peerId = erinAuth.data.peer_id;
    for (const c of [alice, carol]) assert.deepEqual((await c.next(5000)).json, joined(erin, 'alice'));

    await redis.start();
    await waitFor(() => a!.health().ready && b!.health().ready, 20_000, 'both servers ready again');
    const metrics = await metricsOf(a!);
    assert.match(metrics, /^webrtc_cluster_up 1$/m);
    assert.match(metrics, /^webrtc_cluster_resyncs_total [2-9]/m, 'at start, and again after the outage');
    // A's members hear that bob left while they could not know it.
    for (const c of [alice, carol, erin]) assert.deepEqual((await c.next(10_000)).json, left(bob, 'bob'));
    const expected = [alice.peerId, carol.peerId, erin.peerId].sort();
    await waitFor(() => b!.peers('outage').length === 3, 10_000, 'B sees the members of A again');
    for (const server of [a!, b!]) assert.deepEqual(server.peers('outage').map((p) => p.peerId).sort(), expected, 'no ghost, nobody missing');
    // A newcomer on B is told of everybody, and they of it.
    const frank = await TestClient.open(b!.port, 'outage');
    frank.sendJson(authFrame('bob', USERS.bob));
    const auth = await nextJson(frank, 5000);
    assert.deepEqual(auth.data.peers.map((p: { peer_id: string }) => p.peer_id).sort(), expected);
    frank.peerId = auth.data.peer_id;
    for (const c of [alice, carol, erin]) assert.deepEqual((await c.next(5000)).json, joined(frank, 'bob'));
    for (const c of [alice, carol, erin, frank]) c.close();
  });

  test('a server restarted with the same identity clears its ghosts: the others hear left, leave runs once', async (t) => {
    const redis = await RedisProcess.start(t);
    const a = await testServer({ redisUrl: redis.url });
    t.after(() => a.stop());
    await waitFor(() => a.health().ready, 10_000, 'ready');
    const alice = await joinOn(a, 'ghosts', 'alice', []);
    // A previous life of node "n1", SIGKILLed, left bob in the store.
    const store = new Redis(redis.url);
    t.after(() => store.disconnect());
    await store.eval(JOIN, 0, CLUSTER_PREFIX, 'ghosts', 'bobGhostPeer0A==', 'bob', 'n1');
    await waitFor(() => a.peers('ghosts').length === 2, 5000, 'the ghost in every roster');
    const log = new CallbackLog();
    const n1 = await startServer(
      { host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', auth: { users: { ...USERS } }, redisUrl: redis.url, callbacks: log.callbacks() },
      { cluster: { node: 'n1' } },
    );
    t.after(() => n1.stop());
    assert.deepEqual((await alice.next(10_000)).json, { event: 'left', data: { username: 'bob', peer_id: 'bobGhostPeer0A==' } });
    await waitFor(() => a.peers('ghosts').length === 1 && n1.peers('ghosts').length === 1, 5000, 'the ghost gone everywhere');
    await log.waitFor(1, 5000);
    assert.deepEqual(log.calls, [{ kind: 'leave', room: 'ghosts', username: 'bob', others: ['alice'] }]);
    alice.close();
  });
});
