/**
 * The signaling wire protocol, row by row (docs/protocol.md): endpoint,
 * frames in each state, peer ids, leaving, idle timeout, callbacks, the
 * server API and the close codes. Real `ws` clients on 127.0.0.1, port 0.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { TestClient } from '../helpers/client.js';
import type { Received } from '../helpers/client.js';
import { memoryLogger, sleep, testServer, USERS } from '../helpers/server.js';
import { assertPingPong, authFrame, CallbackLog, gate, nextJson, upgradeStatus, within } from '../helpers/protocol.js';
import type { Options } from '../../src/index.js';

type Server = Awaited<ReturnType<typeof testServer>>;
type User = keyof typeof USERS;

/** base64 (standard alphabet) of 10 bytes. */
const PEER_ID = /^[A-Za-z0-9+/]{14}==$/;
const UNAUTHORIZED = { event: 'unauthorized' };
const invalid = (reason: string) => ({ event: 'invalid_message', data: { reason } });
const unknownPeer = (peerId: string) => ({ event: 'invalid_message', data: { reason: 'unknown_peer', peer_id: peerId } });
const joined = (c: TestClient, username: string) => ({ event: 'joined', data: { peer_id: c.peerId, username } });
const left = (c: TestClient, username: string) => ({ event: 'left', data: { username, peer_id: c.peerId } });

async function start(t: { after: (fn: () => unknown) => void }, options: Options = {}): Promise<Server> {
  const server = await testServer(options);
  t.after(() => server.stop());
  return server;
}

/**
 * Joins `users` one after the other; after each join, every earlier member
 * must get exactly the newcomer's `joined`. Returns the clients with empty queues.
 */
async function joinAll(port: number, room: string, users: User[]): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (const user of users) {
    const c = await TestClient.join(port, room, user, USERS[user]);
    for (const earlier of clients) assert.deepEqual((await earlier.next()).json, joined(c, user));
    clients.push(c);
  }
  return clients;
}

/** `pinger` sends `ping` every `everyMs` (at most `max` times) until `watched` closes. */
async function pingUntilClosed(pinger: TestClient, watched: TestClient, everyMs: number, max: number): Promise<void> {
  let closed = false;
  void watched.closed.then(() => (closed = true));
  for (let i = 0; i < max && !closed; i++) {
    if (pinger.ws.readyState === WebSocket.OPEN) pinger.send('ping');
    await sleep(everyMs);
  }
}

/** Reads frames (at most `max`) until one is not `pong`; returns it. */
async function nextNotPong(client: TestClient, max = 100): Promise<Received> {
  for (let i = 0; i < max; i++) {
    const r = await client.next();
    if (r.text !== 'pong') return r;
  }
  throw new Error(`only pongs in ${max} frames`);
}

/** Every frame already queued or arriving within `ms`. */
async function drain(client: TestClient, ms = 100, max = 1000): Promise<Received[]> {
  const frames: Received[] = [];
  for (let i = 0; i < max; i++) {
    try {
      frames.push(await client.next(ms));
    } catch {
      return frames;
    }
  }
  throw new Error(`more than ${max} frames`);
}

describe('endpoint: GET /websocket/:room', () => {
  test('an empty or undecodable room is refused with 400', async (t) => {
    const server = await start(t);
    assert.equal(await upgradeStatus(server.port, '/websocket/'), 400);
    assert.equal(await upgradeStatus(server.port, '/websocket/%ZZ'), 400);
    assert.equal(await upgradeStatus(server.port, '/websocket/%E0%A4%A'), 400);
  });

  test('any other path gets 404', async (t) => {
    const server = await start(t);
    assert.equal(await upgradeStatus(server.port, '/websocket'), 404);
    assert.equal(await upgradeStatus(server.port, '/websocket/a/b'), 404);
    assert.equal(await upgradeStatus(server.port, '/other/room'), 404);
    assert.equal(await upgradeStatus(server.port, '/'), 404);
  });

  test('a valid room is upgraded (101)', async (t) => {
    const server = await start(t);
    assert.equal(await upgradeStatus(server.port, '/websocket/room1'), 101);
  });

  test('the room is the percent-decoded segment: two clients on /websocket/a%20b share room "a b"', async (t) => {
    const server = await start(t);
    const a = new TestClient(`ws://127.0.0.1:${server.port}/websocket/a%20b`);
    await a.opened;
    a.sendJson(authFrame('alice', USERS.alice));
    const aAuth = await nextJson(a);
    assert.equal(aAuth.event, 'authenticated');
    assert.deepEqual(aAuth.data.peers, []);
    const b = new TestClient(`ws://127.0.0.1:${server.port}/websocket/a%20b`);
    await b.opened;
    b.sendJson(authFrame('bob', USERS.bob));
    const bAuth = await nextJson(b);
    assert.equal(bAuth.event, 'authenticated');
    assert.deepEqual(bAuth.data.peers, [{ peer_id: aAuth.data.peer_id, username: 'alice' }]);
    assert.deepEqual(await nextJson(a), { event: 'joined', data: { peer_id: bAuth.data.peer_id, username: 'bob' } });
    assert.deepEqual(server.peers('a b'), [
      { peerId: aAuth.data.peer_id, username: 'alice' },
      { peerId: bAuth.data.peer_id, username: 'bob' },
    ]);
    assert.deepEqual(server.peers('a%20b'), []);
  });

  test('differently encoded paths of one name share the room; "+" is not a space', async (t) => {
    const server = await start(t);
    const a = new TestClient(`ws://127.0.0.1:${server.port}/websocket/ab`);
    await a.opened;
    a.sendJson(authFrame('alice', USERS.alice));
    assert.equal((await nextJson(a)).event, 'authenticated');
    const b = new TestClient(`ws://127.0.0.1:${server.port}/websocket/a%62`);
    await b.opened;
    b.sendJson(authFrame('bob', USERS.bob));
    const bAuth = await nextJson(b);
    assert.equal(bAuth.data.peers.length, 1);
    const plus = new TestClient(`ws://127.0.0.1:${server.port}/websocket/a+b`);
    await plus.opened;
    plus.sendJson(authFrame('carol', USERS.carol));
    const pAuth = await nextJson(plus);
    assert.deepEqual(pAuth.data.peers, []);
    assert.deepEqual(server.peers('a+b').map((p) => p.username), ['carol']);
    assert.deepEqual(server.peers('ab').map((p) => p.username), ['alice', 'bob']);
  });
});

describe('ping', () => {
  test('text "ping" gets raw "pong" before and after authentication', async (t) => {
    const server = await start(t);
    const c = await TestClient.open(server.port, 'room');
    await assertPingPong(c);
    await assertPingPong(c);
    c.sendJson(authFrame('alice', USERS.alice));
    assert.equal((await nextJson(c)).event, 'authenticated');
    await assertPingPong(c);
  });

  test('ping is not an authentication attempt', async (t) => {
    const server = await start(t, { maxAuthAttempts: 1 });
    const c = await TestClient.open(server.port, 'room');
    for (let i = 0; i < 3; i++) await assertPingPong(c);
    c.sendJson(authFrame('alice', USERS.alice));
    assert.equal((await nextJson(c)).event, 'authenticated');
  });

  test('ping does not extend the authentication deadline', async (t) => {
    const server = await start(t, { authTimeout: 300 });
    const c = await TestClient.open(server.port, 'room');
    // Pings keep flowing well past the deadline; the socket must still close at it.
    await pingUntilClosed(c, c, 50, 60);
    const { code } = await within(c.closed, 1000, 'close');
    assert.equal(code, 1000);
    const frames = await drain(c, 50);
    assert.ok(frames.length >= 1, 'pings were answered');
    assert.ok(frames.every((f) => f.text === 'pong'), `only pongs, got ${frames.map((f) => f.text).join(' ')}`);
  });
});

describe('authentication', () => {
  test('joined goes to every earlier member before authenticated goes to the newcomer; peers in join order', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    // One log of arrivals across the three sockets.
    const arrivals: string[] = [];
    a!.ws.on('message', (d) => arrivals.push(`alice:${JSON.parse(d.toString()).event}`));
    b!.ws.on('message', (d) => arrivals.push(`bob:${JSON.parse(d.toString()).event}`));
    const c = await TestClient.open(server.port, 'room');
    c.ws.on('message', (d) => arrivals.push(`carol:${JSON.parse(d.toString()).event}`));
    c.sendJson(authFrame('carol', USERS.carol));
    const auth = await nextJson(c);
    assert.equal(auth.event, 'authenticated');
    assert.match(auth.data.peer_id, PEER_ID);
    assert.deepEqual(auth.data, {
      peer_id: auth.data.peer_id,
      peers: [
        { peer_id: a!.peerId, username: 'alice' },
        { peer_id: b!.peerId, username: 'bob' },
      ],
    });
    c.peerId = auth.data.peer_id;
    assert.deepEqual((await a!.next()).json, joined(c, 'carol'));
    assert.deepEqual((await b!.next()).json, joined(c, 'carol'));
    assert.equal(arrivals.indexOf('carol:authenticated'), 2, `arrival order: ${arrivals.join(', ')}`);
    assert.deepEqual(arrivals.slice(0, 2).sort(), ['alice:joined', 'bob:joined']);
    // By the time the newcomer can speak, the earlier members know it.
    c.sendJson({ event: 'hi', to: a!.peerId });
    assert.deepEqual((await a!.next()).json, { event: 'hi', to: a!.peerId, from: c.peerId });
  });

  test('the first member gets authenticated with peers []', async (t) => {
    const server = await start(t);
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', USERS.alice));
    const auth = await nextJson(c);
    assert.deepEqual(auth, { event: 'authenticated', data: { peer_id: auth.data.peer_id, peers: [] } });
  });

  test('every failure gets {"event":"unauthorized"} and the socket stays open', async (t) => {
    const server = await start(t, { maxAuthAttempts: 100 });
    const c = await TestClient.open(server.port, 'room');
    const failures: string[] = [
      JSON.stringify(authFrame('alice', 'wrong')),
      JSON.stringify(authFrame('alice', USERS.bob)),
      JSON.stringify(authFrame('nobody', 'x')),
      JSON.stringify(authFrame('constructor', '')),
      JSON.stringify(authFrame('__proto__', '')),
      JSON.stringify({ event: 'authenticate' }),
      JSON.stringify({ event: 'authenticate', data: { username: 'alice' } }),
      JSON.stringify({ event: 'authenticate', data: { username: 'alice', password: 123 } }),
      JSON.stringify({ event: 'authenticate', data: 'alice' }),
      JSON.stringify({ event: 'offer', to: 'AAAAAAAAAAAAAA==' }),
      JSON.stringify({ event: 'hello' }),
      'not json',
      '[1,2]',
      '42',
      '"alice-pw"',
    ];
    for (const frame of failures) {
      c.send(frame);
      assert.deepEqual((await c.next()).json, UNAUTHORIZED, `for ${frame}`);
    }
    await assertPingPong(c);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    assert.deepEqual(server.peers('room'), []);
  });

  test('a retry after a failure succeeds', async (t) => {
    const server = await start(t);
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', 'wrong'));
    assert.deepEqual(await nextJson(c), UNAUTHORIZED);
    c.sendJson(authFrame('alice', USERS.alice));
    const auth = await nextJson(c);
    assert.equal(auth.event, 'authenticated');
    assert.deepEqual(server.peers('room'), [{ peerId: auth.data.peer_id, username: 'alice' }]);
  });

  test('the maxAuthAttempts-th failure gets unauthorized, then close 1008', async (t) => {
    const server = await start(t, { maxAuthAttempts: 3 });
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', 'wrong1'));
    assert.deepEqual(await nextJson(c), UNAUTHORIZED);
    c.send('garbage');
    assert.deepEqual(await nextJson(c), UNAUTHORIZED);
    await assertPingPong(c);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    c.sendJson(authFrame('alice', 'wrong3'));
    assert.deepEqual(await nextJson(c), UNAUTHORIZED);
    const { code } = await within(c.closed, 2000, 'close');
    assert.equal(code, 1008);
  });

  test('the count is per socket', async (t) => {
    const server = await start(t, { maxAuthAttempts: 2 });
    const a = await TestClient.open(server.port, 'room');
    const b = await TestClient.open(server.port, 'room');
    a.sendJson(authFrame('alice', 'wrong'));
    assert.deepEqual(await nextJson(a), UNAUTHORIZED);
    b.sendJson(authFrame('bob', 'wrong'));
    assert.deepEqual(await nextJson(b), UNAUTHORIZED);
    a.sendJson(authFrame('alice', USERS.alice));
    assert.equal((await nextJson(a)).event, 'authenticated');
    b.sendJson(authFrame('bob', USERS.bob));
    assert.equal((await nextJson(b)).event, 'authenticated');
  });

  test('auth as a function: throwing, rejecting or returning a non-string is unauthorized', async (t) => {
    const auth = (username: string): unknown => {
      switch (username) {
        case 'thrower': throw new Error('boom');
        case 'rejecter': return Promise.reject(new Error('boom'));
        case 'number': return 42;
        case 'null': return null;
        case 'undefined': return undefined;
        case 'object': return { password: 'pw' };
        case 'asyncNumber': return Promise.resolve(42);
        case 'async': return Promise.resolve('async-pw');
        default: return 'pw';
      }
    };
    const server = await start(t, { auth, maxAuthAttempts: 100 });
    const c = await TestClient.open(server.port, 'room');
    const attempts: [string, string][] = [
      ['thrower', 'pw'], ['thrower', ''], ['rejecter', 'pw'], ['rejecter', ''],
      ['number', '42'], ['null', 'null'], ['null', ''], ['undefined', 'undefined'], ['undefined', ''],
      ['object', 'pw'], ['object', '[object Object]'], ['asyncNumber', '42'], ['async', 'wrong'],
    ];
    for (const [u, p] of attempts) {
      c.sendJson(authFrame(u, p));
      assert.deepEqual(await nextJson(c), UNAUTHORIZED, `${u}/${p}`);
    }
    await assertPingPong(c);
    c.sendJson(authFrame('async', 'async-pw'));
    const auth1 = await nextJson(c);
    assert.equal(auth1.event, 'authenticated');
    const d = await TestClient.open(server.port, 'room');
    d.sendJson(authFrame('someone', 'pw'));
    assert.equal((await nextJson(d)).event, 'authenticated');
    assert.deepEqual(server.peers('room').map((p) => p.username), ['async', 'someone']);
  });

  test('no successful auth within authTimeout: close 1000', async (t) => {
    const server = await start(t, { authTimeout: 200 });
    const idle = await TestClient.open(server.port, 'room');
    const failed = await TestClient.open(server.port, 'room');
    failed.sendJson(authFrame('alice', 'wrong'));
    assert.deepEqual(await nextJson(failed), UNAUTHORIZED);
    assert.equal((await within(idle.closed, 2000, 'idle close')).code, 1000);
    assert.equal((await within(failed.closed, 2000, 'failed close')).code, 1000);
  });

  test('an authenticated connection is not closed at the auth deadline', async (t) => {
    const server = await start(t, { authTimeout: 100 });
    const c = await TestClient.join(server.port, 'room', 'alice', USERS.alice);
    assert.equal(await c.silent(250), true);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    await assertPingPong(c);
  });

  test('concurrent joins: every newcomer sees the members before it, and they see it, in one order', async (t) => {
    const server = await start(t);
    const names = ['alice', 'bob', 'carol', 'alice', 'bob', 'carol', 'alice', 'bob'] as const;
    const clients = await Promise.all(names.map(() => TestClient.open(server.port, 'crowd')));
    const auths = await Promise.all(
      clients.map(async (c, i) => {
        c.sendJson(authFrame(names[i]!, USERS[names[i]!]));
        const auth = await nextJson(c);
        assert.equal(auth.event, 'authenticated');
        c.peerId = auth.data.peer_id;
        return auth.data as { peer_id: string; peers: { peer_id: string; username: string }[] };
      }),
    );
    const order = server.peers('crowd');
    assert.equal(order.length, names.length);
    for (const [i, c] of clients.entries()) {
      const k = order.findIndex((p) => p.peerId === c.peerId);
      assert.equal(order[k]!.username, names[i]);
      assert.deepEqual(auths[i]!.peers, order.slice(0, k).map((p) => ({ peer_id: p.peerId, username: p.username })));
      for (const later of order.slice(k + 1)) {
        assert.deepEqual((await c.next()).json, { event: 'joined', data: { peer_id: later.peerId, username: later.username } });
      }
    }
    const silent = await Promise.all(clients.map((c) => c.silent(100)));
    assert.ok(silent.every(Boolean), 'no other frames');
  });

  test('a connection that closes or times out while its password check is pending never joins', async (t) => {
    const slow = gate();
    const log = new CallbackLog();
    const server = await start(t, {
      authTimeout: 200,
      auth: (u: string) => (u === 'slow' ? slow.promise.then(() => 'pw') : 'pw'),
      callbacks: log.callbacks(),
    });
    t.after(() => slow.open());
    const quitter = await TestClient.open(server.port, 'room');
    quitter.sendJson(authFrame('slow', 'pw'));
    const waiter = await TestClient.open(server.port, 'room');
    waiter.sendJson(authFrame('slow', 'pw'));
    // Answers keep frame order: the pong waits behind the pending check.
    quitter.send('ping');
    assert.equal(await quitter.silent(150), true);
    quitter.close();
    await within(quitter.closed, 2000, 'client close');
    assert.equal((await within(waiter.closed, 2000, 'auth timeout')).code, 1000);
    slow.open();
    const late = await TestClient.open(server.port, 'room');
    late.sendJson(authFrame('later', 'pw'));
    const auth = await nextJson(late);
    assert.deepEqual(auth, { event: 'authenticated', data: { peer_id: auth.data.peer_id, peers: [] } });
    assert.deepEqual(server.peers('room'), [{ peerId: auth.data.peer_id, username: 'later' }]);
    await log.waitFor(2);
    assert.deepEqual(log.calls.map((c) => `${c.kind}:${c.username}`), ['create:later', 'join:later']);
    assert.equal(await late.silent(100), true);
  });

  test('frames pipelined right after authenticate are handled once authenticated, in order', async (t) => {
    const server = await start(t);
    const [a] = await joinAll(server.port, 'room', ['alice']);
    const b = await TestClient.open(server.port, 'room');
    b.sendJson(authFrame('bob', 'wrong'));
    b.sendJson(authFrame('bob', USERS.bob));
    b.sendJson({ event: 'hello', data: 1 });
    b.send('ping');
    b.sendJson(authFrame('bob', USERS.bob));
    // Answers come in frame order, `pong` included (as the original's did).
    assert.deepEqual(await nextJson(b), UNAUTHORIZED);
    const auth = await nextJson(b);
    assert.equal(auth.event, 'authenticated');
    b.peerId = auth.data.peer_id;
    assert.equal((await b.next()).text, 'pong');
    assert.deepEqual(await nextJson(b), invalid('already_authenticated'));
    assert.deepEqual((await a!.next()).json, joined(b, 'bob'));
    assert.deepEqual((await a!.next()).json, { event: 'hello', data: 1, from: b.peerId });
  });
});

describe('messages between members', () => {
  test('with "to": the whole object goes to that peer only, "from" set (overwriting), "to" kept', async (t) => {
    const server = await start(t);
    const [a, b, c] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    a!.sendJson({ event: 'offer', to: b!.peerId, from: 'spoofed', data: { sdp: 'v=0', n: [1, 2, { x: null }] }, extra: true });
    assert.deepEqual((await b!.next()).json, {
      event: 'offer', to: b!.peerId, from: a!.peerId, data: { sdp: 'v=0', n: [1, 2, { x: null }] }, extra: true,
    });
    a!.sendJson({ event: 'answer', to: b!.peerId });
    assert.deepEqual((await b!.next()).json, { event: 'answer', to: b!.peerId, from: a!.peerId });
    const [aSilent, cSilent] = await Promise.all([a!.silent(200), c!.silent(200)]);
    assert.equal(aSilent, true, 'the sender gets nothing back');
    assert.equal(cSilent, true, 'other members get nothing');
  });

  test('without "to": forwarded to every other member with "from"; the sender gets nothing', async (t) => {
    const server = await start(t);
    const [a, b, c] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    a!.sendJson({ event: 'hello', data: { n: 1 }, from: 'spoofed' });
    const expected = { event: 'hello', data: { n: 1 }, from: a!.peerId };
    assert.deepEqual((await b!.next()).json, expected);
    assert.deepEqual((await c!.next()).json, expected);
    a!.send('{}');
    assert.deepEqual((await b!.next()).json, { from: a!.peerId });
    assert.deepEqual((await c!.next()).json, { from: a!.peerId });
    a!.send(' { "event" : "spaced" } ');
    assert.deepEqual((await b!.next()).json, { event: 'spaced', from: a!.peerId });
    assert.deepEqual((await c!.next()).json, { event: 'spaced', from: a!.peerId });
    assert.equal(await a!.silent(200), true);
  });

  test('a broadcast in a room of one reaches nobody and gets no answer', async (t) => {
    const server = await start(t);
    const [a] = await joinAll(server.port, 'room', ['alice']);
    a!.sendJson({ event: 'hello' });
    assert.equal(await a!.silent(200), true);
    await assertPingPong(a!);
  });

  test('"to" = own peer_id is delivered back to the sender with "from"', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    a!.sendJson({ event: 'echo', to: a!.peerId, data: 'x' });
    assert.deepEqual((await a!.next()).json, { event: 'echo', to: a!.peerId, data: 'x', from: a!.peerId });
    assert.equal(await b!.silent(200), true);
  });

  test('"to" not a string: invalid_to, nothing forwarded, connection kept', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    for (const to of [1, null, true, false, {}, [], [b!.peerId], { id: b!.peerId }]) {
      a!.sendJson({ event: 'offer', to });
      assert.deepEqual(await nextJson(a!), invalid('invalid_to'), `to = ${JSON.stringify(to)}`);
    }
    assert.equal(await b!.silent(200), true);
    await assertPingPong(a!);
    a!.sendJson({ event: 'still', to: b!.peerId });
    assert.deepEqual((await b!.next()).json, { event: 'still', to: b!.peerId, from: a!.peerId });
  });

  test('"to" unknown, gone, or in another room: unknown_peer with peer_id, connection kept', async (t) => {
    const server = await start(t);
    const [a, b, c] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    const [other] = await joinAll(server.port, 'other-room', ['carol']);
    for (const to of ['AAAAAAAAAAAAAA==', '', 'not-a-peer-id', other!.peerId!]) {
      a!.sendJson({ event: 'offer', to });
      assert.deepEqual(await nextJson(a!), unknownPeer(to));
    }
    c!.close();
    assert.deepEqual((await a!.next()).json, left(c!, 'carol'));
    assert.deepEqual((await b!.next()).json, left(c!, 'carol'));
    a!.sendJson({ event: 'offer', to: c!.peerId });
    assert.deepEqual(await nextJson(a!), unknownPeer(c!.peerId!));
    const [bSilent, otherSilent] = await Promise.all([b!.silent(200), other!.silent(200)]);
    assert.equal(bSilent, true);
    assert.equal(otherSilent, true, 'a peer in another room gets nothing');
    assert.equal(a!.ws.readyState, WebSocket.OPEN);
    a!.sendJson({ event: 'still', to: b!.peerId });
    assert.deepEqual((await b!.next()).json, { event: 'still', to: b!.peerId, from: a!.peerId });
  });

  test('invalid JSON or JSON that is not an object: invalid_json, connection kept', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    for (const text of ['{', 'hello', 'PING', 'ping ', ' ping', '', '[1,2]', '[]', '42', '"str"', 'null', 'true', '{"a":1}x']) {
      a!.send(text);
      assert.deepEqual(await nextJson(a!), invalid('invalid_json'), `for ${JSON.stringify(text)}`);
    }
    assert.equal(await b!.silent(200), true);
    await assertPingPong(a!);
    a!.sendJson({ event: 'still' });
    assert.deepEqual((await b!.next()).json, { event: 'still', from: a!.peerId });
  });

  test('a second authenticate: already_authenticated, nothing changes', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    for (const frame of [authFrame('alice', USERS.alice), authFrame('alice', 'wrong'), authFrame('carol', USERS.carol)]) {
      a!.sendJson(frame);
      assert.deepEqual(await nextJson(a!), invalid('already_authenticated'));
    }
    assert.equal(await b!.silent(200), true);
    assert.deepEqual(server.peers('room'), [
      { peerId: a!.peerId, username: 'alice' },
      { peerId: b!.peerId, username: 'bob' },
    ]);
  });
});

describe('binary frames are ignored', () => {
  test('before authentication: no answer, not an attempt, not an authentication', async (t) => {
    const server = await start(t, { maxAuthAttempts: 2 });
    const c = await TestClient.open(server.port, 'room');
    c.ws.send(Buffer.from(JSON.stringify(authFrame('alice', USERS.alice))), { binary: true });
    c.ws.send(Buffer.from('ping'), { binary: true });
    c.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    assert.equal(await c.silent(200), true);
    assert.deepEqual(server.peers('room'), []);
    await assertPingPong(c);
    c.sendJson(authFrame('alice', 'wrong'));
    assert.deepEqual(await nextJson(c), UNAUTHORIZED);
    assert.equal(c.ws.readyState, WebSocket.OPEN, 'binary frames did not count as attempts');
    c.sendJson(authFrame('alice', USERS.alice));
    assert.equal((await nextJson(c)).event, 'authenticated');
  });

  test('after authentication: no answer, nothing forwarded', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    a!.ws.send(Buffer.from(JSON.stringify({ event: 'offer', to: b!.peerId })), { binary: true });
    a!.ws.send(Buffer.from(JSON.stringify({ event: 'hello' })), { binary: true });
    a!.ws.send(Buffer.from('ping'), { binary: true });
    const [aSilent, bSilent] = await Promise.all([a!.silent(200), b!.silent(200)]);
    assert.equal(aSilent, true);
    assert.equal(bSilent, true);
    await assertPingPong(a!);
  });
});

describe('maxMessageBytes', () => {
  test('a larger frame before authentication: close 1009', async (t) => {
    const server = await start(t, { maxMessageBytes: 1024 });
    const c = await TestClient.open(server.port, 'room');
    c.send('x'.repeat(1025));
    assert.equal((await within(c.closed, 2000, 'close')).code, 1009);
  });

  test('a frame of exactly maxMessageBytes passes; a larger one closes 1009 and the others get left', async (t) => {
    const server = await start(t, { maxMessageBytes: 1024 });
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    const base = JSON.stringify({ event: 'big', data: '' });
    const exact = JSON.stringify({ event: 'big', data: 'y'.repeat(1024 - base.length) });
    assert.equal(Buffer.byteLength(exact), 1024);
    a!.send(exact);
    assert.deepEqual((await b!.next()).json, { ...JSON.parse(exact), from: a!.peerId });
    a!.ws.send(Buffer.alloc(1025), { binary: true });
    assert.equal((await within(a!.closed, 2000, 'close')).code, 1009);
    assert.deepEqual((await b!.next()).json, left(a!, 'alice'));
  });
});

describe('rateLimit', () => {
  const rateLimit = { perSecond: 20, burst: 10, abuseSeconds: 1 };

  test('a burst within the limit is served at once', async (t) => {
    const server = await start(t, { rateLimit });
    const c = await TestClient.open(server.port, 'room');
    for (let i = 0; i < 10; i++) c.send('ping');
    for (let i = 0; i < 10; i++) assert.equal((await c.next(100)).text, 'pong');
    assert.equal(await c.silent(200), true);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
  });

  test('a burst over the limit (pings count) is delayed, never lost, never closed', async (t) => {
    const server = await start(t, { rateLimit: { ...rateLimit, abuseSeconds: 10 } });
    const c = await TestClient.open(server.port, 'room');
    const started = performance.now();
    for (let i = 0; i < 40; i++) c.send('ping');
    for (let i = 0; i < 40; i++) assert.equal((await c.next(3000)).text, 'pong', `pong ${i}`);
    // Frames read in one go are all handled; the debt (30 over) then stops reading for over a second.
    c.send('ping');
    assert.equal((await c.next(3000)).text, 'pong');
    const took = performance.now() - started;
    assert.ok(took >= 1000, `30 frames over a burst of 10 at 20/s: the next one waits (took ${took} ms)`);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    assert.match(await metricsText(server), /^webrtc_rate_limited_total\{action="throttled"\} [1-9]/m);
  });

  test('a client that stays over the limit for abuseSeconds is closed 1008; binary frames count too', async (t) => {
    const server = await start(t, { rateLimit });
    const c = await TestClient.open(server.port, 'room');
    const started = performance.now();
    let closed = false;
    void c.closed.then(() => (closed = true));
    for (let i = 0; i < 400 && !closed; i++) {
      if (c.ws.readyState === WebSocket.OPEN) for (let j = 0; j < 5; j++) c.ws.send(Buffer.from([i]), { binary: true });
      await sleep(10); // 500 frames/s offered, 20/s allowed
    }
    const close = await within(c.closed, 3000, 'close');
    assert.equal(close.code, 1008);
    assert.equal(close.reason, 'rate limit exceeded');
    const after = performance.now() - started;
    assert.ok(after >= 1000 && after < 4000, `closed after ${after} ms of abuse (abuseSeconds 1)`);
    assert.match(await metricsText(server), /^webrtc_rate_limited_total\{action="closed"\} 1$/m);
  });

  test('a member over the limit for abuseSeconds is closed 1008 and the others get left', async (t) => {
    const server = await start(t, { rateLimit });
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    let closed = false;
    void a!.closed.then(() => (closed = true));
    for (let i = 0; i < 400 && !closed; i++) {
      if (a!.ws.readyState === WebSocket.OPEN) for (let j = 0; j < 5; j++) a!.send('ping');
      await sleep(10);
    }
    assert.equal((await within(a!.closed, 3000, 'close')).code, 1008);
    assert.deepEqual((await b!.next()).json, left(a!, 'alice'));
    assert.deepEqual(server.peers('room'), [{ peerId: b!.peerId, username: 'bob' }]);
  });
});

async function metricsText(server: Server): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
}

describe('peer_id', () => {
  test('base64 of 10 bytes, distinct per connection; one username twice gets two peer_ids', async (t) => {
    const server = await start(t);
    const a1 = await TestClient.join(server.port, 'room', 'alice', USERS.alice);
    const a2 = await TestClient.open(server.port, 'room');
    a2.sendJson(authFrame('alice', USERS.alice));
    const auth = await nextJson(a2);
    a2.peerId = auth.data.peer_id;
    assert.deepEqual(auth.data.peers, [{ peer_id: a1.peerId, username: 'alice' }]);
    assert.deepEqual((await a1.next()).json, joined(a2, 'alice'));
    const others = await Promise.all([
      TestClient.join(server.port, 'room2', 'bob', USERS.bob),
      TestClient.join(server.port, 'room3', 'carol', USERS.carol),
    ]);
    const ids = [a1.peerId!, a2.peerId!, ...others.map((o) => o.peerId!)];
    for (const id of ids) {
      assert.match(id, PEER_ID);
      assert.equal(Buffer.from(id, 'base64').length, 10);
    }
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(server.peers('room'), [
      { peerId: a1.peerId, username: 'alice' },
      { peerId: a2.peerId, username: 'alice' },
    ]);
    a1.sendJson({ event: 'to-twin', to: a2.peerId });
    assert.deepEqual((await a2.next()).json, { event: 'to-twin', to: a2.peerId, from: a1.peerId });
    assert.equal(await a1.silent(100), true);
  });
});

describe('leaving', () => {
  test('client close: every remaining member gets left', async (t) => {
    const server = await start(t);
    const [a, b, c] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    b!.close();
    assert.deepEqual((await a!.next()).json, left(b!, 'bob'));
    assert.deepEqual((await c!.next()).json, left(b!, 'bob'));
    assert.deepEqual(server.peers('room'), [
      { peerId: a!.peerId, username: 'alice' },
      { peerId: c!.peerId, username: 'carol' },
    ]);
  });

  test('abrupt disconnect (no close frame): left all the same', async (t) => {
    const server = await start(t);
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    b!.ws.terminate();
    assert.deepEqual((await a!.next()).json, left(b!, 'bob'));
  });

  test('idle timeout: close 1000 and left to the others', async (t) => {
    // 1.5 s: pings 80 ms apart keep bob well inside it even on a loaded machine.
    const server = await start(t, { idleTimeout: 1500 });
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    // bob keeps pinging; alice says nothing.
    await pingUntilClosed(b!, a!, 80, 60);
    assert.equal((await within(a!.closed, 1000, 'close')).code, 1000);
    const r = await nextNotPong(b!);
    assert.deepEqual(r.json, left(a!, 'alice'));
    assert.equal(b!.ws.readyState, WebSocket.OPEN);
  });

  test('an unauthenticated connection that ends does nothing', async (t) => {
    const log = new CallbackLog();
    const server = await start(t, { authTimeout: 200, callbacks: log.callbacks() });
    const [a] = await joinAll(server.port, 'room', ['alice']);
    const quitter = await TestClient.open(server.port, 'room');
    quitter.close();
    const failed = await TestClient.open(server.port, 'room');
    failed.sendJson(authFrame('bob', 'wrong'));
    assert.deepEqual(await nextJson(failed), UNAUTHORIZED);
    failed.ws.terminate();
    const late = await TestClient.open(server.port, 'room');
    await within(Promise.all([quitter.closed, failed.closed]), 2000, 'closes');
    assert.equal((await within(late.closed, 2000, 'auth timeout')).code, 1000);
    assert.equal(await a!.silent(300), true);
    assert.deepEqual(server.peers('room'), [{ peerId: a!.peerId, username: 'alice' }]);
    assert.deepEqual(log.calls.map((c) => c.kind), ['create', 'join']);
  });
});

describe('idle timeout', () => {
  test('any frame (ping, binary, JSON) resets it; silence then closes 1000', async (t) => {
    const server = await start(t, { idleTimeout: 1500 });
    const clients = await Promise.all(
      ['ping', 'binary', 'json'].map((room) => TestClient.join(server.port, room, 'alice', USERS.alice)),
    );
    const [byPing, byBinary, byJson] = clients as [TestClient, TestClient, TestClient];
    // 40 × 80 ms: twice the idle timeout, each client sending one kind of frame.
    for (let i = 0; i < 40; i++) {
      byPing.send('ping');
      byBinary.ws.send(Buffer.from([1]), { binary: true });
      byJson.sendJson({ event: 'keepalive' });
      await sleep(80);
    }
    for (const c of clients) assert.equal(c.ws.readyState, WebSocket.OPEN);
    const codes = await within(Promise.all(clients.map((c) => c.closed)), 5000, 'idle closes');
    assert.deepEqual(codes.map((c) => c.code), [1000, 1000, 1000]);
  });

  test('it applies before authentication too', async (t) => {
    const server = await start(t, { idleTimeout: 200, authTimeout: 60_000 });
    const c = await TestClient.open(server.port, 'room');
    assert.equal((await within(c.closed, 2000, 'close')).code, 1000);
  });

  test('"infinity" disables it', async (t) => {
    const server = await start(t, { idleTimeout: 'infinity' });
    const c = await TestClient.join(server.port, 'room', 'alice', USERS.alice);
    assert.equal(await c.silent(300), true);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
  });
});

describe('server API', () => {
  test('peers(room): join order; [] for an unknown room', async (t) => {
    const server = await start(t);
    assert.deepEqual(server.peers('room'), []);
    const [a, b, c] = await joinAll(server.port, 'room', ['carol', 'alice', 'bob']);
    assert.deepEqual(server.peers('room'), [
      { peerId: a!.peerId, username: 'carol' },
      { peerId: b!.peerId, username: 'alice' },
      { peerId: c!.peerId, username: 'bob' },
    ]);
    assert.deepEqual(server.peers('nope'), []);
    const unauthenticated = await TestClient.open(server.port, 'room');
    await assertPingPong(unauthenticated);
    assert.equal(server.peers('room').length, 3, 'unauthenticated sockets are not peers');
    a!.close();
    assert.deepEqual((await b!.next()).json, left(a!, 'carol'));
    assert.deepEqual(server.peers('room').map((p) => p.username), ['alice', 'bob']);
  });

  test('publish(room, event, data?) returns the recipients; frame with and without data', async (t) => {
    const server = await start(t);
    const clients = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    const [other] = await joinAll(server.port, 'other', ['alice']);
    const unauthenticated = await TestClient.open(server.port, 'room');
    assert.equal(server.publish('room', 'notice', { text: 'hi', n: [1] }), 3);
    for (const c of clients) assert.deepEqual((await c.next()).json, { event: 'notice', data: { text: 'hi', n: [1] } });
    assert.equal(server.publish('room', 'bare'), 3);
    for (const c of clients) {
      const r = await c.next();
      assert.deepEqual(r.json, { event: 'bare' });
      assert.equal(Object.hasOwn(r.json, 'data'), false);
    }
    assert.equal(server.publish('room', 'zero', 0), 3);
    for (const c of clients) assert.deepEqual((await c.next()).json, { event: 'zero', data: 0 });
    assert.equal(server.publish('nope', 'x', 1), 0);
    const [otherSilent, unauthSilent] = await Promise.all([other!.silent(200), unauthenticated.silent(200)]);
    assert.equal(otherSilent, true, 'other rooms get nothing');
    assert.equal(unauthSilent, true, 'unauthenticated sockets get nothing');
  });

  test('send(peerId, event, data?): true and delivered to that peer only; false for an unknown peer', async (t) => {
    const server = await start(t);
    const [a, b, c] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    assert.equal(server.send(b!.peerId!, 'private', { y: 2 }), true);
    assert.deepEqual((await b!.next()).json, { event: 'private', data: { y: 2 } });
    assert.equal(server.send(b!.peerId!, 'bare'), true);
    const bare = await b!.next();
    assert.deepEqual(bare.json, { event: 'bare' });
    const [aSilent, cSilent] = await Promise.all([a!.silent(200), c!.silent(200)]);
    assert.equal(aSilent, true);
    assert.equal(cSilent, true);
    assert.equal(server.send('AAAAAAAAAAAAAA==', 'x'), false);
    assert.equal(server.send('', 'x', 1), false);
    b!.close();
    assert.deepEqual((await a!.next()).json, left(b!, 'bob'));
    assert.equal(server.send(b!.peerId!, 'x'), false, 'a peer that left is unknown');
  });
});

describe('callbacks', () => {
  test('the worked example: create, join, leave with otherUsernames; create again for a new first member', async (t) => {
    const log = new CallbackLog();
    const server = await start(t, { callbacks: log.callbacks() });
    const u1 = await TestClient.join(server.port, 'room', 'alice', USERS.alice);
    await log.waitFor(2);
    const u2 = await TestClient.join(server.port, 'room', 'bob', USERS.bob);
    await log.waitFor(3);
    u1.close();
    assert.deepEqual((await u2.next()).json, left(u1, 'alice'));
    await log.waitFor(4);
    u2.close();
    await log.waitFor(5);
    await TestClient.join(server.port, 'room', 'carol', USERS.carol);
    await log.waitFor(7);
    assert.deepEqual(log.calls, [
      { kind: 'create', room: 'room', username: 'alice', others: [] },
      { kind: 'join', room: 'room', username: 'alice', others: [] },
      { kind: 'join', room: 'room', username: 'bob', others: ['alice'] },
      { kind: 'leave', room: 'room', username: 'alice', others: ['bob'] },
      { kind: 'leave', room: 'room', username: 'bob', others: [] },
      { kind: 'create', room: 'room', username: 'carol', others: [] },
      { kind: 'join', room: 'room', username: 'carol', others: [] },
    ]);
  });

  test('otherUsernames are in join order', async (t) => {
    const log = new CallbackLog();
    const server = await start(t, { callbacks: log.callbacks() });
    const [, b] = await joinAll(server.port, 'room', ['alice', 'bob', 'carol']);
    await log.waitFor(4);
    b!.close();
    await log.waitFor(5);
    assert.deepEqual(log.calls.slice(3), [
      { kind: 'join', room: 'room', username: 'carol', others: ['alice', 'bob'] },
      { kind: 'leave', room: 'room', username: 'bob', others: ['alice', 'carol'] },
    ]);
  });

  test('async callbacks are awaited in order per room, without blocking another room or the connection', async (t) => {
    const log = new CallbackLog();
    const slowCreate = gate();
    const server = await start(t, {
      callbacks: {
        create: (room, username, others) => {
          log.record('create', room, username, others);
          return room === 'slow' ? slowCreate.promise : Promise.resolve();
        },
        join: async (room, username, others) => log.record('join', room, username, others),
        leave: async (room, username, others) => log.record('leave', room, username, others),
      },
    });
    t.after(() => slowCreate.open());
    const a = await TestClient.join(server.port, 'slow', 'alice', USERS.alice);
    await log.waitFor(1);
    await assertPingPong(a);
    const b = await TestClient.join(server.port, 'fast', 'bob', USERS.bob);
    await log.waitFor(3);
    const c = await TestClient.join(server.port, 'slow', 'carol', USERS.carol);
    assert.deepEqual((await a.next()).json, joined(c, 'carol'), 'the room works while its callback is pending');
    c.sendJson({ event: 'hi', to: a.peerId });
    assert.deepEqual((await a.next()).json, { event: 'hi', to: a.peerId, from: c.peerId });
    assert.deepEqual(log.calls, [
      { kind: 'create', room: 'slow', username: 'alice', others: [] },
      { kind: 'create', room: 'fast', username: 'bob', others: [] },
      { kind: 'join', room: 'fast', username: 'bob', others: [] },
    ], 'join(slow) waits for create(slow); room fast does not');
    slowCreate.open();
    await log.waitFor(5);
    assert.deepEqual(log.calls.slice(3), [
      { kind: 'join', room: 'slow', username: 'alice', others: [] },
      { kind: 'join', room: 'slow', username: 'carol', others: ['alice'] },
    ]);
    b.close();
    await log.waitFor(6);
    assert.deepEqual(log.calls[5], { kind: 'leave', room: 'fast', username: 'bob', others: [] });
  });

  test('a throwing or rejecting callback is logged and affects neither the connection nor the room', async (t) => {
    const log = new CallbackLog();
    const { logger, lines } = memoryLogger();
    const server = await testServer({
      callbacks: {
        create: (room, username, others) => {
          log.record('create', room, username, others);
          throw new Error('create failed');
        },
        join: (room, username, others) => {
          log.record('join', room, username, others);
          return Promise.reject(new Error('join failed'));
        },
        leave: (room, username, others) => {
          log.record('leave', room, username, others);
          throw new Error('leave failed');
        },
      },
    }, logger);
    t.after(() => server.stop());
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    a!.sendJson({ event: 'hi', to: b!.peerId });
    assert.deepEqual((await b!.next()).json, { event: 'hi', to: b!.peerId, from: a!.peerId });
    b!.close();
    assert.deepEqual((await a!.next()).json, left(b!, 'bob'));
    await log.waitFor(4);
    assert.deepEqual(log.calls.map((c) => `${c.kind}:${c.username}`), ['create:alice', 'join:alice', 'join:bob', 'leave:bob']);
    await assertPingPong(a!);
    const c = await TestClient.join(server.port, 'room', 'carol', USERS.carol);
    assert.deepEqual((await a!.next()).json, joined(c, 'carol'));
    assert.equal(a!.ws.readyState, WebSocket.OPEN);
    assert.ok(lines().filter((l) => l.level >= 50).length >= 4, 'each callback error is logged');
  });
});

describe('close codes', () => {
  test('1001 on server stop, for members and unauthenticated sockets; left and leave still happen', async (t) => {
    const log = new CallbackLog();
    const server = await start(t, { callbacks: log.callbacks() });
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    const u = await TestClient.open(server.port, 'room');
    await log.waitFor(3);
    await within(server.stop(), 5000, 'stop');
    const codes = await within(Promise.all([a!.closed, b!.closed, u.closed]), 2000, 'closes');
    assert.deepEqual(codes.map((c) => c.code), [1001, 1001, 1001]);
    await log.waitFor(5);
    const leaves = log.calls.slice(3);
    assert.equal(leaves.length, 2);
    assert.ok(leaves.every((l) => l.kind === 'leave' && l.room === 'room'));
    const [first, second] = leaves as [typeof leaves[0], typeof leaves[0]];
    assert.deepEqual([first.username, second.username].sort(), ['alice', 'bob']);
    assert.deepEqual(first.others, [second.username]);
    assert.deepEqual(second.others, []);
    // The member still there when the first one left got its `left`.
    const [firstClient, secondClient] = first.username === 'alice' ? [a!, b!] : [b!, a!];
    const frames = await drain(secondClient, 50);
    assert.deepEqual(frames.map((f) => f.json), [left(firstClient, first.username)]);
  });

  test('the table: 1000 auth timeout, 1008 auth attempts, 1008 rate, 1009 too big', async (t) => {
    const server = await start(t, { authTimeout: 300, maxAuthAttempts: 1, rateLimit: { perSecond: 5, burst: 10, abuseSeconds: 0.5 }, maxMessageBytes: 128 });
    const timeout = await TestClient.open(server.port, 'room');
    const attempts = await TestClient.open(server.port, 'room');
    const rate = await TestClient.join(server.port, 'room', 'bob', USERS.bob);
    const big = await TestClient.open(server.port, 'room');
    attempts.sendJson(authFrame('alice', 'wrong'));
    big.send('z'.repeat(129));
    void pingUntilClosed(rate, rate, 5, 600); // over the rate for abuseSeconds
    const codes = await within(Promise.all([timeout.closed, attempts.closed, rate.closed, big.closed]), 3000, 'closes');
    assert.deepEqual(codes.map((c) => c.code), [1000, 1008, 1008, 1009]);
  });
});

describe('Unicode', () => {
  test('a Unicode room name, usernames and message content round-trip', async (t) => {
    const log = new CallbackLog();
    const users: Record<string, string> = { 'José': 'contraseña', 'Zoë 🦊': 'pässwörd' };
    const server = await start(t, { auth: (u: string) => users[u], callbacks: log.callbacks() });
    const room = '会議室 🎥 ß';
    const a = await TestClient.join(server.port, room, 'José', 'contraseña');
    const b = await TestClient.open(server.port, room);
    b.sendJson(authFrame('Zoë 🦊', 'pässwörd'));
    const auth = await nextJson(b);
    b.peerId = auth.data.peer_id;
    assert.deepEqual(auth.data.peers, [{ peer_id: a.peerId, username: 'José' }]);
    assert.deepEqual((await a.next()).json, joined(b, 'Zoë 🦊'));
    assert.deepEqual(server.peers(room), [
      { peerId: a.peerId, username: 'José' },
      { peerId: b.peerId, username: 'Zoë 🦊' },
    ]);
    const content = { text: '¡Hola, 世界! 🎉 e\u0301 \u2028 "quoted" \\ end', emoji: '👩‍👩‍👧‍👦' };
    a.sendJson({ event: 'chat ✉', to: b.peerId, data: content });
    assert.deepEqual((await b.next()).json, { event: 'chat ✉', to: b.peerId, from: a.peerId, data: content });
    b.send('{"event":"esc","data":"\\u00e9\\ud83c\\udf89"}');
    assert.deepEqual((await a.next()).json, { event: 'esc', data: 'é🎉', from: b.peerId });
    assert.equal(server.publish(room, 'ñews', '☃'), 2);
    assert.deepEqual((await a.next()).json, { event: 'ñews', data: '☃' });
    await log.waitFor(3);
    assert.deepEqual(log.calls[0], { kind: 'create', room, username: 'José', others: [] });
    assert.deepEqual(log.calls[2], { kind: 'join', room, username: 'Zoë 🦊', others: ['José'] });
  });
});

describe('maxMessageBytes counts bytes, not characters', () => {
  test('multi-byte text: within the limit in bytes passes; over it closes 1009', async (t) => {
    const server = await start(t, { maxMessageBytes: 1024 });
    const [a, b] = await joinAll(server.port, 'room', ['alice', 'bob']);
    const base = Buffer.byteLength(JSON.stringify({ event: 'u', data: '' }));
    const fits = JSON.stringify({ event: 'u', data: '€'.repeat(Math.floor((1024 - base) / 3)) });
    assert.ok(Buffer.byteLength(fits) <= 1024);
    a!.send(fits);
    assert.deepEqual((await b!.next()).json, { ...JSON.parse(fits), from: a!.peerId });
    const tooBig = JSON.stringify({ event: 'u', data: '€'.repeat(400) });
    assert.ok(tooBig.length <= 1024 && Buffer.byteLength(tooBig) > 1024);
    a!.send(tooBig);
    assert.equal((await within(a!.closed, 2000, 'close')).code, 1009);
    assert.deepEqual((await b!.next()).json, left(a!, 'alice'));
  });
});
