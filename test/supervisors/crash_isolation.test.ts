/**
 * Crash isolation and shutdown order on the real tree (real sockets on
 * 127.0.0.1, port 0). The fault is injected through the ROOM_BUS token of
 * the server's container: the bus throws inside `join` when the member
 * named "crasher" joins room "boom", which makes the room actor's `admit`
 * effect throw, i.e. the room actor crashes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DependencyContainer } from 'tsyringe';
import { buildContainer, tree } from '../../supervisors/composition.js';
import type { ServerApi } from '../../src/api.js';
import type { ChildInfo } from '../../src/otp/supervisor.js';
import type { Worker } from '../../src/otp/worker.js';
import { LIFECYCLE, SERVER_API } from '../../src/di/tokens.js';
import { LocalRoomBus } from '../../src/rooms/room-bus.js';
import type { Member } from '../../src/rooms/room-bus.js';
import type { Options } from '../../src/options.js';
import { TestClient } from '../helpers/client.js';
import type { Received } from '../helpers/client.js';
import { memoryLogger, testServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { processErrors } from '../helpers/chaos.js';

const USERS = { alice: 'a', bob: 'b', carol: 'c', dave: 'd', erin: 'e', crasher: 'x' } as const;

class FaultyRoomBus extends LocalRoomBus {
  override join(room: string, member: Member): Member[] {
    if (room === 'boom' && member.username === 'crasher') throw new Error('injected room fault');
    return super.join(room, member);
  }

  /** A member's message fanned out in room `fragile` that says "detonate" meets a bug. */
  override broadcast(room: string, frame: Buffer, exceptPeerId?: string): number {
    if (room === 'fragile' && frame.includes('detonate')) throw new Error('injected fan-out fault');
    return super.broadcast(room, frame, exceptPeerId);
  }
}

/** Every frame and the close of one client, in arrival order. */
function record(client: TestClient): string[] {
  const events: string[] = [];
  client.ws.on('message', (data, isBinary) => {
    if (!isBinary) events.push(data.toString());
  });
  client.ws.on('close', (code) => events.push(`close:${code}`));
  return events;
}

function find(tree: ChildInfo[] | undefined, id: string): ChildInfo | undefined {
  for (const node of tree ?? []) {
    if (node.id === id) return node;
    const inner = find(node.children, id);
    if (inner) return inner;
  }
  return undefined;
}

interface Running {
  api: ServerApi;
  port: number;
  stop(): Promise<void>;
  leaves: string[];
  lines: () => any[];
}

async function startFaulty(extra: Options = {}): Promise<Running> {
  const leaves: string[] = [];
  const { logger, lines } = memoryLogger('error');
  const c: DependencyContainer = await buildContainer(
    {
      host: '127.0.0.1',
      port: 0,
      turnPort: false,
      logLevel: 'silent',
      auth: { users: { ...USERS } },
      callbacks: { leave: (room: string, user: string, others: string[]) => void leaves.push(`${room}:${user}:[${others.join(',')}]`) },
      ...extra,
    },
    { logger, roomBus: new FaultyRoomBus() },
  );
  const root: Worker = await tree(c).root.start();
  c.resolve(LIFECYCLE).running(root);
  const api = c.resolve(SERVER_API);
  return { api, port: api.signalingAddress()!.port, stop: () => root.stop(), leaves, lines };
}

describe('a bug met while forwarding a member\'s frame', () => {
  test('ends that connection (1011, its room told `left`), never the process; the room goes on', async (t) => {
    const uncaught = processErrors(t);
    const server = await startFaulty();
    t.after(() => server.stop());
    const alice = await TestClient.join(server.port, 'fragile', 'alice', USERS.alice);
    const bob = await TestClient.join(server.port, 'fragile', 'bob', USERS.bob);
    assert.equal((await alice.next()).json?.event, 'joined');
    bob.sendJson({ event: 'note', data: 'detonate' });
    assert.equal((await bob.closed).code, 1011);
    assert.deepEqual((await alice.next()).json, { event: 'left', data: { username: 'bob', peer_id: bob.peerId } });
    assert.deepEqual(uncaught, []);
    assert.ok(server.lines().some((l) => l.msg === 'connection actor crashed' && /injected fan-out fault/.test(l.err?.message)));
    const carol = await TestClient.join(server.port, 'fragile', 'carol', USERS.carol);
    carol.sendJson({ event: 'note', data: 'hello' });
    assert.equal((await alice.next()).json?.event, 'joined');
    assert.deepEqual((await alice.next()).json, { event: 'note', data: 'hello', from: carol.peerId });
  });
});

describe('a crashing room actor', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => void uncaught.push(err);
  const onRejection = (err: unknown) => void uncaught.push(err);
  let server: Running;

  before(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
    server = await startFaulty();
  });
  after(async () => {
    await server.stop();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  });

  test('closes its members with 1011, runs leave for them, leaves other rooms alone', async () => {
    const { port, api, leaves } = server;
    const dave = await TestClient.join(port, 'calm', 'dave', USERS.dave);
    const erin = await TestClient.join(port, 'calm', 'erin', USERS.erin);
    assert.equal((await dave.next()).json?.event, 'joined');
    const alice = await TestClient.join(port, 'boom', 'alice', USERS.alice);
    const bob = await TestClient.join(port, 'boom', 'bob', USERS.bob);
    assert.deepEqual((await alice.next()).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
    const aliceEvents = record(alice);
    const bobEvents = record(bob);
    assert.deepEqual(find(api.tree(), 'room_sup')?.children?.map((r) => r.id).sort(), ['boom', 'calm']);

    // the crash
    const crasher = await TestClient.open(port, 'boom');
    crasher.sendJson({ event: 'authenticate', data: { username: 'crasher', password: USERS.crasher } });

    const [aliceClosed, bobClosed] = await Promise.all([alice.closed, bob.closed]);
    assert.equal(aliceClosed.code, 1011);
    assert.equal(bobClosed.code, 1011);
    // they saw nothing of the failed join before their close
    assert.deepEqual(aliceEvents, ['close:1011']);
    assert.deepEqual(bobEvents, ['close:1011']);

    // the leave callback ran for each evicted member, with the members still there after it
    await waitFor(() => leaves.length >= 2, 5_000, 'leave callbacks', 1);
    assert.deepEqual(leaves, ['boom:alice:[bob]', 'boom:bob:[]']);

    // the other room still works
    dave.sendJson({ event: 'offer', data: { sdp: 'x' } });
    assert.deepEqual((await erin.next()).json, { event: 'offer', data: { sdp: 'x' }, from: dave.peerId });
    erin.sendJson({ event: 'answer', to: dave.peerId });
    assert.deepEqual((await dave.next()).json, { event: 'answer', to: dave.peerId, from: erin.peerId });
    assert.deepEqual(api.peers('calm').map((p) => p.username), ['dave', 'erin']);
    assert.deepEqual(api.peers('boom'), []);

    // the tree: room "boom" is gone, "calm" is there, nothing above was restarted
    const tree = api.tree();
    const roomSup = find(tree, 'room_sup');
    assert.ok(roomSup);
    assert.deepEqual(roomSup.children?.map((r) => r.id), ['calm']);
    assert.equal(roomSup.restarts, 0);
    assert.equal(roomSup.state, 'running');
    for (const id of ['signaling_sup', 'connection_sup', 'signaling_listener', 'turn_sup']) {
      const node = find(tree, id);
      assert.ok(node, id);
      assert.equal(node.state, 'running', id);
      assert.equal(node.restarts, 0, id);
    }

    // the crash was logged with its room
    assert.ok(server.lines().some((l) => l.level >= 50 && l.room === 'boom'), 'room crash logged');

    // the room can be used again: a fresh room actor
    const again = await TestClient.join(port, 'boom', 'carol', USERS.carol);
    assert.deepEqual(api.peers('boom').map((p) => p.username), ['carol']);
    assert.deepEqual(find(api.tree(), 'room_sup')?.children?.map((r) => r.id).sort(), ['boom', 'calm']);

    for (const client of [dave, erin, again, crasher]) client.close();
    await Promise.all([dave.closed, erin.closed, again.closed, crasher.closed]);
    assert.deepEqual(uncaught, []);
  });

  test('the member whose join crashed the room is not left hanging: it is closed with 1011 too', async () => {
    const { port } = server;
    const first = await TestClient.join(port, 'boom', 'alice', USERS.alice);
    const crasher = await TestClient.open(port, 'boom');
    crasher.sendJson({ event: 'authenticate', data: { username: 'crasher', password: USERS.crasher } });
    assert.equal((await first.closed).code, 1011);
    const outcome = await Promise.race([
      crasher.closed.then((c) => `close:${c.code}`),
      crasher.next(1_500).then((r: Received) => `frame:${r.text}`, () => 'still open, no answer'),
    ]);
    crasher.ws.terminate();
    assert.equal(outcome, 'close:1011');
    assert.deepEqual(uncaught, []);
  });
});

describe('shutdown of the real tree', () => {
  test('stop(): clients closed with 1001, remaining members see left before their own close, leave callbacks ran before stop() resolves', async () => {
    const leaves: string[] = [];
    const server = await testServer({
      callbacks: {
        leave: async (room: string, user: string, others: string[]) => {
          await new Promise((r) => setTimeout(r, 20)); // slow: stop() must wait for it
          leaves.push(`${room}:${user}:[${others.join(',')}]`);
        },
      },
    });
    const names = ['alice', 'bob', 'carol'] as const;
    const clients: TestClient[] = [];
    for (const name of names) {
      const client = await TestClient.join(server.port, 'r', name, { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' }[name]);
      clients.push(client);
    }
    // drain the joined events: alice saw bob and carol, bob saw carol
    assert.equal((await clients[0]!.next()).json?.event, 'joined');
    assert.equal((await clients[0]!.next()).json?.event, 'joined');
    assert.equal((await clients[1]!.next()).json?.event, 'joined');
    const other = await TestClient.join(server.port, 'other', 'alice', 'alice-pw');
    const events = clients.map(record);
    const otherEvents = record(other);
    const closes = clients.map((c) => c.closed);

    await server.stop();
    assert.equal(leaves.length, 4, `leave callbacks done before stop() resolved: ${JSON.stringify(leaves)}`);

    const closed = await Promise.all(closes);
    for (const c of closed) assert.deepEqual(c, { code: 1001, reason: 'server shutting down' });
    assert.deepEqual(otherEvents, ['close:1001']);

    // Members left one after the other, in some order: the k-th to leave saw `left` of the k-1
    // before it (and nothing else), always before its own close.
    const byLefts = events
      .map((ev, i) => ({ i, ev }))
      .sort((a, b) => a.ev.length - b.ev.length);
    const order: number[] = [];
    for (const { i, ev } of byLefts) {
      const expected = order.map((j) => JSON.stringify({ event: 'left', data: { username: names[j], peer_id: clients[j]!.peerId } }));
      assert.deepEqual(ev, [...expected, 'close:1001'], `events of ${names[i]}`);
      order.push(i);
    }
    // leave callbacks: each with the members still there after it, in the same order
    const roomLeaves = leaves.filter((l) => l.startsWith('r:'));
    assert.deepEqual(
      roomLeaves,
      order.map((i, k) => `r:${names[i]}:[${order.slice(k + 1).map((j) => names[j]).join(',')}]`),
    );
    assert.ok(leaves.includes('other:alice:[]'));
    // and nothing is left running
    assert.deepEqual(server.tree(), []);
    assert.deepEqual(server.peers('r'), []);
  });
});
