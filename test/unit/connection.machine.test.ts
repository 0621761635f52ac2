import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { ManualClock } from '../helpers/clock.js';
import { connectionMachine } from '../../src/signaling/connection.machine.js';
import type { ConnectionEvent } from '../../src/signaling/connection.machine.js';
import { parseClientFrame, PING_FRAME } from '../../src/signaling/protocol.js';
import type { ClientFrame, Credentials } from '../../src/signaling/protocol.js';
import { forwardFrame, fromTail } from '../../src/signaling/forwarding.js';
import { TextFrames } from '../../src/signaling/text-frames.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { RoomBus } from '../../src/rooms/room-bus.js';

const PEER = 'SELFSELFSELFSE==';
const OTHER = 'OTHEROTHEROTHE==';
const metrics = new Metrics();
const frames = new TextFrames();

/** A room bus that records deliveries: `broadcast <frame>` / `unicast <to> <frame>`. */
function recordingBus(log: string[], known: Set<string>): RoomBus {
  return {
    broadcast: (_room, frame) => (log.push(`broadcast ${frame.toString()}`), 1),
    unicast: (_room, to, frame) => known.has(to) && (log.push(`unicast ${to} ${frame.toString()}`), true),
  } as Pick<RoomBus, 'broadcast' | 'unicast'> as RoomBus;
}
/** The text forwarded for `text` sent by PEER. */
const from = (text: string) => `${text.slice(0, -1)},"from":"${PEER}"}`;

interface Check {
  credentials: Credentials;
  resolve(name: string | null): void;
  reject(err: unknown): void;
}

/** One connection actor with every effect faked: effects are recorded as strings in `log`. */
function connection(options: { authTimeout?: number; maxAuthAttempts?: number; knownPeers?: string[] } = {}) {
  const log: string[] = [];
  const checks: Check[] = [];
  const known = new Set(options.knownPeers ?? [OTHER]);
  /** Whether the connection forwards on its own (between startForwarding and stopForwarding). */
  const state: { forwarding: boolean; readingHeld: boolean; authTimer: number | null } = { forwarding: false, readingHeld: false, authTimer: null };
  const clock = new ManualClock();
  const machine = connectionMachine.provide({
    actions: {
      send: (_, { frame }) => void log.push(`send ${frame}`),
      pong: () => void log.push('pong'),
      close: (_, { code, reason }) => void log.push(`close ${code} ${reason}`),
      joinRoom: ({ context }) => void log.push(`joinRoom ${context.room} ${context.username}`),
      leaveRoom: ({ context }) => void log.push(`leaveRoom ${context.room} ${context.peerId}`),
      // The real forwarding (forwarding.ts) over a bus that records what it is asked to deliver.
      forward: ({ context }, { frame }) => {
        const answer = forwardFrame(recordingBus(log, known), metrics, frames, { room: context.room, peerId: context.peerId, fromTail: fromTail(context.peerId) }, frame);
        if (answer !== null) log.push(`send ${answer}`);
      },
      startForwarding: () => void (state.forwarding = true),
      stopForwarding: () => void (state.forwarding = false),
      holdReading: () => void (state.readingHeld = true),
      releaseReading: () => void (state.readingHeld = false),
      // The deadline on the actor's clock, as the edge keeps it (connection.actor.ts).
      armAuthTimer: ({ self }, { ms }) => void (state.authTimer = clock.setTimeout(() => self.send({ type: 'auth.timeout' }), ms)),
      disarmAuthTimer: () => {
        if (state.authTimer !== null) clock.clearTimeout(state.authTimer);
        state.authTimer = null;
      },
      // The check is pending until the test answers it, as the edge does: `auth.checked` or `auth.error`, later.
      checkCredentials: ({ self }, input) => {
        log.push(`check ${input.username}:${input.password}`);
        const later = (event: ConnectionEvent) => void Promise.resolve().then(() => self.send(event));
        checks.push({ credentials: input, resolve: (username) => later({ type: 'auth.checked', username }), reject: (error) => later({ type: 'auth.error', error }) });
      },
    },
  });
  const actor = createActor(machine, {
    input: { peerId: PEER, room: 'room1', source: '192.0.2.1', authTimeout: options.authTimeout ?? 5_000, maxAuthAttempts: options.maxAuthAttempts ?? 5 },
    clock,
  });
  const errors: unknown[] = [];
  actor.subscribe({ error: (err) => errors.push(err) });
  actor.start();
  const send = (event: ConnectionEvent) => actor.send(event);
  const frame = (text: string) => actor.send(parseClientFrame(text));
  const auth = (username = 'alice', password = 'pw') => frame(JSON.stringify({ event: 'authenticate', data: { username, password } }));
  const value = () => actor.getSnapshot().value;
  const lastCheck = () => {
    const c = checks.at(-1);
    assert.ok(c, 'a password check is pending');
    return c;
  };
  return { actor, log, checks, clock, send, frame, auth, value, lastCheck, errors, state };
}

/** Lets promise actors settle (bounded number of turns). */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

const UNAUTHORIZED = 'send {"event":"unauthorized"}';
const invalid = (reason: string, peerId?: string) =>
  `send ${JSON.stringify({ event: 'invalid_message', data: peerId === undefined ? { reason } : { reason, peer_id: peerId } })}`;

/** Brings a fresh connection to `authenticated` (join pending) or `inRoom`. */
async function toState(target: 'unauthenticated' | 'checking' | 'authenticated' | 'inRoom', opts = {}) {
  const c = connection(opts);
  if (target === 'unauthenticated') return c;
  c.auth('alice', 'pw');
  if (target === 'checking') return c;
  c.lastCheck().resolve('alice');
  await flush();
  if (target === 'inRoom') c.send({ type: 'room.joined' });
  c.log.length = 0;
  return c;
}

describe('connection machine: state progression', () => {
  test('reading is held exactly while a password check or the room join is pending, whatever the outcome', async () => {
    const c = connection();
    assert.equal(c.state.readingHeld, false);
    c.auth('alice', 'wrong');
    assert.equal(c.state.readingHeld, true, 'held while checking');
    c.lastCheck().resolve(null);
    await flush();
    assert.equal(c.state.readingHeld, false, 'released after a failure');
    c.auth('alice', 'pw');
    assert.equal(c.state.readingHeld, true);
    c.lastCheck().reject(new Error('backend down'));
    await flush();
    assert.equal(c.state.readingHeld, false, 'released after an error');
    c.auth('alice', 'pw');
    c.lastCheck().resolve('alice');
    await flush();
    assert.equal(c.value(), 'authenticated');
    assert.equal(c.state.readingHeld, true, 'still held while the join is pending (a cluster store answers later)');
    c.send({ type: 'room.joined' });
    assert.equal(c.value(), 'inRoom');
    assert.equal(c.state.readingHeld, false, 'released once in the room');
  });

  test('unauthenticated → checking → authenticated (joinRoom) → inRoom → closed', async () => {
    const c = connection();
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    c.auth('alice', 'pw');
    assert.deepEqual(c.value(), { unauthenticated: 'checking' });
    assert.deepEqual(c.log, ['check alice:pw']);
    c.lastCheck().resolve('alice');
    await flush();
    assert.equal(c.value(), 'authenticated');
    assert.equal(c.actor.getSnapshot().context.username, 'alice');
    assert.deepEqual(c.log, ['check alice:pw', 'joinRoom room1 alice']);
    c.send({ type: 'room.joined' });
    assert.equal(c.value(), 'inRoom');
    c.send({ type: 'socket.closed' });
    assert.equal(c.value(), 'closed');
    assert.equal(c.actor.getSnapshot().status, 'done');
    assert.deepEqual(c.log, ['check alice:pw', 'joinRoom room1 alice', `leaveRoom room1 ${PEER}`]);
    assert.deepEqual(c.errors, []);
  });

  test('the room-visible name is what the check resolved to (e.g. REST user part)', async () => {
    const c = connection();
    c.auth('1999999999:alice', 'hmac');
    c.lastCheck().resolve('alice');
    await flush();
    assert.equal(c.actor.getSnapshot().context.username, 'alice');
    assert.equal(c.log.at(-1), 'joinRoom room1 alice');
  });

  test('ping is answered with pong in every live state and changes nothing', async () => {
    // (While a password check or a join is pending, ping waits its turn with the other frames: see below.)
    for (const state of ['unauthenticated', 'inRoom'] as const) {
      const c = await toState(state);
      const before = c.actor.getSnapshot().value;
      c.log.length = 0;
      c.send(PING_FRAME);
      assert.deepEqual(c.log, ['pong'], state);
      assert.deepEqual(c.actor.getSnapshot().value, before, state);
      assert.equal(c.actor.getSnapshot().context.failures, 0, state);
    }
  });
});

describe('connection machine: auth timeout', () => {
  test('closes with 1000 at exactly authTimeout, not before, whatever pings arrive', () => {
    const c = connection({ authTimeout: 5_000 });
    for (let t = 0; t < 4_999; t += 500) {
      c.send(PING_FRAME);
      c.clock.advance(t + 500 > 4_999 ? 4_999 - t : 500);
    }
    assert.equal(c.clock.now(), 4_999);
    assert.equal(c.log.filter((l) => l.startsWith('close')).length, 0);
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    c.clock.advance(1);
    assert.deepEqual(c.log.filter((l) => l !== 'pong'), ['close 1000 authentication timeout']);
    assert.equal(c.value(), 'closed');
  });

  test('failed attempts do not extend the deadline either', async () => {
    const c = connection({ authTimeout: 1_000 });
    c.clock.advance(600);
    c.frame('{"event":"hello"}');
    c.auth('alice', 'bad');
    c.lastCheck().resolve(null);
    await flush();
    c.clock.advance(399);
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    c.clock.advance(1);
    assert.equal(c.log.at(-1), 'close 1000 authentication timeout');
    assert.equal(c.value(), 'closed');
  });

  test('fires while a password check is still pending', () => {
    const c = connection({ authTimeout: 1_000 });
    c.auth();
    c.clock.advance(1_000);
    assert.equal(c.value(), 'closed');
    assert.deepEqual(c.log, ['check alice:pw', 'close 1000 authentication timeout']);
  });

  test('no timeout once authenticated', async () => {
    const c = await toState('authenticated', { authTimeout: 1_000 });
    c.clock.advance(10_000);
    assert.equal(c.value(), 'authenticated');
    c.send({ type: 'room.joined' });
    c.clock.advance(10_000);
    assert.equal(c.value(), 'inRoom');
    assert.deepEqual(c.log, []);
    assert.equal(c.clock.pending(), 0);
  });

  test('a check resolving after the timeout closed the connection does nothing', async () => {
    const c = connection({ authTimeout: 1_000 });
    c.auth();
    c.clock.advance(1_000);
    c.lastCheck().resolve('alice');
    await flush();
    assert.equal(c.value(), 'closed');
    assert.equal(c.log.filter((l) => l.startsWith('joinRoom')).length, 0);
  });
});

describe('connection machine: failed authentication', () => {
  test('each failure answers unauthorized and stays open; the max-th also closes 1008', async () => {
    const c = connection({ maxAuthAttempts: 3 });
    c.auth('alice', 'bad1');
    c.lastCheck().resolve(null);
    await flush();
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    assert.equal(c.actor.getSnapshot().context.failures, 1);
    c.auth('alice', 'bad2');
    c.lastCheck().reject(new Error('auth backend down')); // a failing check is a failure too
    await flush();
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    assert.equal(c.actor.getSnapshot().context.failures, 2);
    assert.deepEqual(c.log, ['check alice:bad1', UNAUTHORIZED, 'check alice:bad2', UNAUTHORIZED]);
    c.auth('alice', 'bad3');
    c.lastCheck().resolve(null);
    await flush();
    assert.deepEqual(c.log.slice(4), ['check alice:bad3', UNAUTHORIZED, 'close 1008 too many failed authentication attempts']);
    assert.equal(c.value(), 'closed');
    assert.deepEqual(c.errors, []);
  });

  test('any other frame, or authenticate without credentials, counts as a failure (no check)', () => {
    const c = connection({ maxAuthAttempts: 4 });
    c.frame('{"event":"offer"}');
    c.frame('not json');
    c.frame('{"event":"authenticate","data":{"username":"alice"}}');
    assert.deepEqual(c.log, [UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED]);
    assert.equal(c.checks.length, 0);
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    c.frame('{"to":5}');
    assert.deepEqual(c.log, [UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, 'close 1008 too many failed authentication attempts']);
    assert.equal(c.value(), 'closed');
  });

  test('maxAuthAttempts 1: the first failure closes', () => {
    const c = connection({ maxAuthAttempts: 1 });
    c.frame('{}');
    assert.deepEqual(c.log, [UNAUTHORIZED, 'close 1008 too many failed authentication attempts']);
    assert.equal(c.value(), 'closed');
  });

  test('a success after failures is a normal success', async () => {
    const c = connection({ maxAuthAttempts: 3 });
    c.frame('{}');
    c.frame('{}');
    c.auth();
    c.lastCheck().resolve('alice');
    await flush();
    assert.equal(c.value(), 'authenticated');
    assert.deepEqual(c.log, [UNAUTHORIZED, UNAUTHORIZED, 'check alice:pw', 'joinRoom room1 alice']);
  });
});

describe('connection machine: frames deferred during the password check', () => {
  test('are replayed in order once in the room', async () => {
    const c = connection();
    c.auth();
    c.frame('{"n":1}');
    c.frame(`{"n":2,"to":"${OTHER}"}`);
    c.send(PING_FRAME); // deferred too: answers keep the order of the frames
    c.frame('garbage');
    c.frame('{"n":3}');
    assert.deepEqual(c.log, ['check alice:pw']);
    c.lastCheck().resolve('alice');
    await flush();
    // still deferred while the join is pending; more frames queue behind
    c.frame('{"n":4}');
    assert.deepEqual(c.log, ['check alice:pw', 'joinRoom room1 alice']);
    c.send({ type: 'room.joined' });
    assert.deepEqual(c.log.slice(2), [
      `broadcast ${from('{"n":1}')}`,
      `unicast ${OTHER} ${from(`{"n":2,"to":"${OTHER}"}`)}`,
      'pong',
      invalid('invalid_json'),
      `broadcast ${from('{"n":3}')}`,
      `broadcast ${from('{"n":4}')}`,
    ]);
    assert.deepEqual(c.actor.getSnapshot().context.deferred, []);
    // later frames are handled directly
    c.frame('{"n":5}');
    assert.equal(c.log.at(-1), `broadcast ${from('{"n":5}')}`);
  });

  test('a second authenticate deferred during the check is answered already_authenticated', async () => {
    const c = connection();
    c.auth();
    c.auth();
    c.lastCheck().resolve('alice');
    await flush();
    c.send({ type: 'room.joined' });
    assert.deepEqual(c.log, ['check alice:pw', 'joinRoom room1 alice', invalid('already_authenticated')]);
    assert.equal(c.checks.length, 1);
  });

  test('after a failed check they are replayed in order as further attempts', async () => {
    const c = connection({ maxAuthAttempts: 5 });
    c.auth('alice', 'bad');
    c.frame('{"n":1}');
    c.auth('alice', 'good');
    c.frame('{"n":2}');
    c.lastCheck().resolve(null);
    await flush();
    // unauthorized for the check; {"n":1} fails too; the deferred authenticate starts a new check
    assert.deepEqual(c.log, ['check alice:bad', UNAUTHORIZED, UNAUTHORIZED, 'check alice:good']);
    assert.deepEqual(c.value(), { unauthenticated: 'checking' });
    c.lastCheck().resolve('alice');
    await flush();
    c.send({ type: 'room.joined' });
    // {"n":2} arrived after the good authenticate: it is a room message
    assert.deepEqual(c.log.slice(4), ['joinRoom room1 alice', `broadcast ${from('{"n":2}')}`]);
    assert.equal(c.actor.getSnapshot().context.failures, 2);
  });

  test('deferred frames beyond the last allowed attempt are dropped with the connection', async () => {
    const c = connection({ maxAuthAttempts: 2 });
    c.auth('alice', 'bad');
    c.frame('{"n":1}');
    c.frame('{"n":2}');
    c.lastCheck().resolve(null);
    await flush();
    assert.deepEqual(c.log, ['check alice:bad', UNAUTHORIZED, UNAUTHORIZED, 'close 1008 too many failed authentication attempts']);
    assert.equal(c.value(), 'closed');
  });
});

describe('connection machine: kick and slow consumer', () => {
  for (const [type, reason] of [['server.kick', 'kicked by an administrator'], ['slow.consumer', 'too many frames waiting to be sent']] as const) {
    test(`${type} in inRoom: leaveRoom (the others see left), then close 1008`, async () => {
      const c = await toState('inRoom');
      c.log.length = 0;
      c.send({ type });
      assert.deepEqual(c.log, [`leaveRoom room1 ${PEER}`, `close 1008 ${reason}`]);
      assert.equal(c.value(), 'closed');
      assert.equal(c.state.forwarding, false);
    });
  }
});

describe('connection machine: idle, rate limit, shutdown, socket closed', () => {
  const exits: { event: ConnectionEvent; close: string | null }[] = [
    { event: { type: 'idle.timeout' }, close: 'close 1000 idle timeout' },
    { event: { type: 'rate.exceeded' }, close: 'close 1008 rate limit exceeded' },
    { event: { type: 'server.shutdown' }, close: 'close 1001 server shutting down' },
    { event: { type: 'socket.closed' }, close: null },
  ];
  for (const state of ['unauthenticated', 'checking', 'authenticated', 'inRoom'] as const) {
    const member = state === 'authenticated' || state === 'inRoom';
    for (const { event, close } of exits) {
      test(`${event.type} in ${state}: ${member ? 'leaveRoom, then ' : ''}${close ?? 'no close'}`, async () => {
        const c = await toState(state);
        c.log.length = 0;
        c.send(event);
        const expected = [...(member ? [`leaveRoom room1 ${PEER}`] : []), ...(close ? [close] : [])];
        assert.deepEqual(c.log, expected);
        assert.equal(c.value(), 'closed');
        assert.equal(c.actor.getSnapshot().status, 'done');
        // nothing happens afterwards
        c.send(PING_FRAME);
        c.frame('{"a":1}');
        c.send({ type: 'room.joined' });
        c.clock.advance(60_000);
        if (state === 'checking') {
          c.lastCheck().resolve('alice');
          await flush();
        }
        assert.deepEqual(c.log, expected);
      });
    }
  }
});

describe('connection machine: room failure', () => {
  for (const state of ['authenticated', 'inRoom'] as const) {
    test(`room.failed in ${state}: close 1011, no leaveRoom`, async () => {
      const c = await toState(state);
      c.frame('{"deferred":true}');
      c.log.length = 0;
      c.send({ type: 'room.failed' });
      assert.deepEqual(c.log, ['close 1011 room failed']);
      assert.equal(c.value(), 'closed');
    });
  }

  test('room.failed before authentication is ignored', () => {
    const c = connection();
    c.send({ type: 'room.failed' });
    assert.deepEqual(c.value(), { unauthenticated: 'waiting' });
    assert.deepEqual(c.log, []);
  });
});

describe('connection machine: in the room', () => {
  test('the connection forwards on its own exactly while the actor is inRoom', async () => {
    const joining = await toState('authenticated');
    assert.equal(joining.state.forwarding, false);
    const c = await toState('inRoom');
    assert.equal(c.state.forwarding, true);
    c.send({ type: 'socket.closed' });
    assert.equal(c.value(), 'closed');
    assert.equal(c.state.forwarding, false);
  });

  test('broadcast without to, unicast to a known peer (or oneself), unknown peer refused', async () => {
    const c = await toState('inRoom', { knownPeers: [OTHER, PEER] });
    c.frame('{"event":"candidate"}');
    c.frame(`{"event":"offer","to":"${OTHER}"}`);
    c.frame(`{"event":"echo","to":"${PEER}"}`);
    c.frame('{"event":"offer","to":"NOBODYNOBODYNO=="}');
    assert.deepEqual(c.log, [
      `broadcast ${from('{"event":"candidate"}')}`,
      `unicast ${OTHER} ${from(`{"event":"offer","to":"${OTHER}"}`)}`,
      `unicast ${PEER} ${from(`{"event":"echo","to":"${PEER}"}`)}`,
      invalid('unknown_peer', 'NOBODYNOBODYNO=='),
    ]);
    assert.equal(c.value(), 'inRoom');
  });

  test('invalid frames are answered and the connection kept', async () => {
    const c = await toState('inRoom');
    c.frame('{oops');
    c.frame('[1]');
    c.frame('{"to":7}');
    assert.deepEqual(c.log, [invalid('invalid_json'), invalid('invalid_json'), invalid('invalid_to')]);
    assert.equal(c.value(), 'inRoom');
  });

  test('a second authenticate → already_authenticated, no new check, no new join', async () => {
    const c = await toState('inRoom');
    c.auth('bob', 'bob-pw');
    c.frame('{"event":"authenticate"}');
    assert.deepEqual(c.log, [invalid('already_authenticated'), invalid('already_authenticated')]);
    assert.equal(c.checks.length, 1);
    assert.equal(c.actor.getSnapshot().context.username, 'alice');
  });

  test('a second room.joined changes nothing', async () => {
    const c = await toState('inRoom');
    c.send({ type: 'room.joined' });
    assert.deepEqual(c.log, []);
    assert.equal(c.value(), 'inRoom');
  });

  test('failures are not counted once authenticated', async () => {
    const c = await toState('inRoom', { maxAuthAttempts: 1 });
    for (let i = 0; i < 5; i++) c.frame('bad');
    assert.equal(c.value(), 'inRoom');
    assert.equal(c.log.filter((l) => l.startsWith('close')).length, 0);
  });
});

// Type-level sanity: every ClientFrame kind is an event the machine accepts.
const _frames: ConnectionEvent[] = [PING_FRAME, parseClientFrame('{}') as ClientFrame];
void _frames;
