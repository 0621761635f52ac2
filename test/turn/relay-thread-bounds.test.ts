/**
 * The bounds of the relay threads' queues and maps, pushed past: requests
 * waiting for the main thread (MainCalls: count and deadline, late answers),
 * datagrams forwarded to another thread (PeerChannels over real
 * MessageChannels: in flight per thread, age, channels closed and replaced;
 * ForeignOwners: directory size), the thread's guess gate (ThreadGate:
 * unacknowledged checks, pushed blocks, trusted IPs, key count).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { ForeignOwners } from '../../src/turn/foreign-owners.js';
import { MainCalls } from '../../src/turn/main-calls.js';
import { PEER_CHANNEL_DEFAULTS, PeerChannels } from '../../src/turn/peer-channels.js';
import type { PeerChannelsOptions } from '../../src/turn/peer-channels.js';
import { ThreadGate } from '../../src/turn/thread-gate.js';
import pino from 'pino';
import { MAX_RELAY_THREADS } from '../../src/turn/relay-thread-protocol.js';
import { resolveTurnThreads, reusePortAvailable } from '../../src/turn/reuse-port.js';
import { poll } from '../helpers/wait.js';

describe('MainCalls', () => {
  test('at most maxPending wait: the next is refused at once; each has a deadline; a late answer goes to `late`', async () => {
    const late: string[] = [];
    const calls = new MainCalls<string>({ maxPending: 2, timeoutMs: 50 }, (a) => late.push(a));
    const sent: number[] = [];
    const first = calls.call((id) => sent.push(id));
    const second = calls.call((id) => sent.push(id));
    assert.equal(await calls.call((id) => sent.push(id)), null, 'the third is refused');
    assert.deepEqual(sent, [0, 1]);
    calls.answer(0, 'a');
    assert.equal(await first, 'a');
    assert.equal(await second, null, 'the deadline passed');
    assert.equal(calls.timedOut, 1);
    assert.equal(calls.size, 0);
    calls.answer(1, 'too late');
    assert.deepEqual(late, ['too late']);
  });
});

describe('ForeignOwners', () => {
  test('forwards datagrams of clients another thread owns to it; one the channel refuses is dropped; the directory holds maxEntries', () => {
    const sent: number[] = [];
    let room = 3;
    const self = new ForeignOwners(1, 2, (to) => room-- > 0 && sent.push(to) > 0, { maxEntries: 2 });
    self.set('10.0.0.1:1', 2);
    self.set('10.0.0.1:2', 1); // its own: not foreign
    assert.equal(self.size, 1);
    assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.9', 9), false, 'unknown clients are handled here');
    for (let i = 0; i < 5; i++) assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.1', 1), true, 'handed over or dropped: not handled here');
    assert.deepEqual(sent, [2, 2, 2]);
    assert.equal(self.forwardedCount, 3);
    assert.equal(self.dropped, 2, 'refused by the channel');
    self.set('10.0.0.1:3', 2);
    self.set('10.0.0.1:4', 2);
    assert.equal(self.size, 2, 'maxEntries: the oldest is forgotten');
    assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.1', 1), false);
  });

  test('forwardTo (a redeem of another thread\'s reservation): only to another thread of 1..threads', () => {
    const sent: number[] = [];
    const self = new ForeignOwners(1, 2, (to) => sent.push(to) > 0);
    for (const thread of [0, 1, 3, 64, -1, 1.5, Number.NaN]) assert.equal(self.forwardTo(thread, Buffer.from('x'), '10.0.0.1', 1), false, `thread ${thread}`);
    assert.deepEqual(sent, []);
    assert.equal(self.forwardTo(2, Buffer.from('x'), '10.0.0.1', 1), true);
    assert.deepEqual(sent, [2]);
  });
});

/** Two threads' PeerChannels joined by a real MessageChannel (the same ports the hub hands relay threads). */
function pair(options: { a?: Partial<PeerChannelsOptions>; b?: Partial<PeerChannelsOptions> } = {}) {
  const got: { a: string[]; b: string[] } = { a: [], b: [] };
  const inbox = { a: new SharedArrayBuffer(4), b: new SharedArrayBuffer(4) };
  const open = { a: [] as number[], b: [] as number[] };
  const make = (side: 'a' | 'b') => new PeerChannels(inbox[side], {
    deliver: (buf, address, port) => got[side].push(`${buf.toString()} ${address}:${port}`),
    portsChanged: (n) => open[side].push(n),
  }, { ...PEER_CHANNEL_DEFAULTS, ...options[side] });
  const a = make('a');
  const b = make('b');
  const { port1, port2 } = new MessageChannel();
  a.connect({ thread: 2, port: port1, inbox: inbox.b });
  b.connect({ thread: 1, port: port2, inbox: inbox.a });
  return { a, b, got, inbox, open, port1, port2 };
}

const inFlight = (inbox: SharedArrayBuffer) => Atomics.load(new Int32Array(inbox), 0);

describe('PeerChannels', () => {
  test('at most maxInFlight (1024 by default) datagrams in flight to one thread: beyond, refused; each arrival frees its slot', async (t) => {
    const { a, b, got, inbox } = pair();
    t.after(() => { a.close(); b.close(); });
    let accepted = 0;
    for (let i = 0; i < 1100; i++) if (a.send(2, Buffer.from(`d${i}`), '10.0.0.1', 1000 + (i % 100))) accepted++;
    assert.equal(accepted, PEER_CHANNEL_DEFAULTS.maxInFlight, 'the default bound');
    assert.equal(inFlight(inbox.b), 1024);
    assert.ok(await poll(() => got.b.length === 1024, 2_000), `${got.b.length} arrived`);
    assert.equal(got.b[0], 'd0 10.0.0.1:1000');
    assert.equal(inFlight(inbox.b), 0, 'every arrival gave its slot back');
    assert.equal(a.send(2, Buffer.from('again'), '10.0.0.1', 1), true, 'room again');
    assert.equal(inFlight(inbox.a), 0, 'the other direction untouched');
  });

  test('an arrival older than deadlineMs, or malformed, is dropped (its slot freed); both directions work', async (t) => {
    const clock = 1_000_000;
    let age = 101; // how old a datagram is on arrival, ms
    const { a, b, got, inbox, port1 } = pair({ a: { now: () => clock }, b: { deadlineMs: 100, now: () => clock + age } });
    t.after(() => { a.close(); b.close(); });
    assert.equal(a.send(2, Buffer.from('late'), '10.0.0.1', 1), true);
    Atomics.add(new Int32Array(inbox.b), 0, 1);
    port1.postMessage({ buf: 'not bytes', address: '10.0.0.1', port: 1, at: clock });
    await poll(() => b.expired === 2, 2_000);
    assert.equal(b.expired, 2);
    assert.deepEqual(got.b, []);
    assert.equal(inFlight(inbox.b), 0);
    age = 100; // in time
    assert.equal(a.send(2, Buffer.from('fresh'), '10.0.0.1', 2), true);
    assert.equal(b.send(1, Buffer.from('back'), '10.0.0.2', 3), true);
    assert.ok(await poll(() => got.b.length === 1 && got.a.length === 1, 2_000));
    assert.deepEqual(got, { a: ['back 10.0.0.2:3'], b: ['fresh 10.0.0.1:2'] });
  });

  test('a channel whose far end closes (its thread died) is forgotten and never posted to; close() ends all', async () => {
    const { a, b, open } = pair();
    assert.equal(a.size, 1);
    assert.equal(a.send(3, Buffer.from('x'), '10.0.0.1', 1), false, 'no channel to thread 3');
    b.close(); // thread 2 gone
    assert.ok(await poll(() => a.size === 0, 2_000), 'the far end closed: forgotten');
    assert.equal(a.send(2, Buffer.from('x'), '10.0.0.1', 1), false, 'nothing posted to a closed channel');
    assert.deepEqual(open.a, [1, 0]);
    assert.equal(a.portsOpen, 0);
    a.close();
    const late = new MessageChannel();
    let lateClosed = false;
    late.port2.once('close', () => (lateClosed = true));
    late.port2.start();
    a.connect({ thread: 2, port: late.port1, inbox: new SharedArrayBuffer(4) });
    assert.equal(a.size, 0, 'a channel that arrives after close() is closed at once');
    assert.ok(await poll(() => lateClosed, 2_000));
  });

  test('a restarted thread\'s channel takes the old one\'s place at once; what the dead thread sent is still taken (its slots freed), then the old port is gone', async (t) => {
    const { a, b, got, inbox, open } = pair();
    t.after(() => a.close());
    for (let i = 0; i < 5; i++) assert.equal(b.send(1, Buffer.from(`old${i}`), '10.0.0.1', 1), true, 'thread 2 sends, then dies');
    assert.equal(inFlight(inbox.a), 5);
    // thread 2 restarts: its new channel reaches thread 1 before thread 1 has read the old one's datagrams
    const fresh = new MessageChannel();
    const arrived: unknown[] = [];
    fresh.port2.on('message', (m: unknown) => arrived.push(m));
    t.after(() => fresh.port2.close());
    const inbox2 = new SharedArrayBuffer(4);
    a.connect({ thread: 2, port: fresh.port1, inbox: inbox2 });
    b.close();
    assert.equal(a.size, 1);
    assert.equal(a.portsOpen, 2, 'the old port is read until its far end has closed');
    assert.equal(a.send(2, Buffer.from('new'), '10.0.0.1', 1), true);
    assert.equal(inFlight(inbox.b), 0, 'nothing posted on the old channel');
    assert.equal(inFlight(inbox2), 1, 'the new start\'s inbox');
    assert.ok(await poll(() => a.portsOpen === 1 && arrived.length === 1, 2_000), `ports open ${a.portsOpen}`);
    assert.deepEqual(got.a, ['old0 10.0.0.1:1', 'old1 10.0.0.1:1', 'old2 10.0.0.1:1', 'old3 10.0.0.1:1', 'old4 10.0.0.1:1']);
    assert.equal(inFlight(inbox.a), 0, 'the dead thread\'s datagrams gave their slots back');
    assert.equal(a.size, 1, 'the old port\'s close left the new channel in place');
    assert.deepEqual(open.a, [1, 2, 1]);
  });
});

describe('ThreadGate', () => {
  test('at most maxUnconfirmed checks per IP and per username before the main thread acknowledges them', () => {
    const reports: string[] = [];
    const gate = new ThreadGate((kind, ip, user) => reports.push(`${kind} ${ip} ${user}`), { maxUnconfirmed: 2, ackDeadlineMs: 1_000, maxKeys: 3 });
    assert.equal(gate.admit('1.1.1.1', 'a'), 'ok');
    assert.equal(gate.admit('1.1.1.1', 'b'), 'ok');
    assert.equal(gate.admit('1.1.1.1', 'c'), 'ip', 'two unacknowledged from that IP');
    assert.equal(gate.admit('2.2.2.2', 'a'), 'ok');
    assert.equal(gate.admit('3.3.3.3', 'a'), 'username', 'two unacknowledged for that username');
    gate.acknowledged('1.1.1.1', 'a');
    assert.equal(gate.admit('1.1.1.1', 'c'), 'ok');
    assert.equal(reports.length, 4);
  });

  test('blocks pushed by the main thread hold until they expire; a trusted IP skips its user\'s block; unanswered reports expire', () => {
    let now = 0;
    const gate = new ThreadGate(() => {}, { maxUnconfirmed: 1, ackDeadlineMs: 500, maxKeys: 100, now: () => now });
    gate.block('ip', '1.1.1.1', 100);
    gate.block('username', 'alice', 100);
    gate.trust('2.2.2.2', 'alice', 10_000);
    assert.equal(gate.admit('1.1.1.1', 'x'), 'ip');
    assert.equal(gate.admit('3.3.3.3', 'alice'), 'username');
    assert.equal(gate.admit('2.2.2.2', 'alice'), 'ok', 'trusted for alice');
    assert.equal(gate.admit('2.2.2.2', 'alice'), 'ip', 'one unacknowledged');
    now = 600;
    assert.equal(gate.admit('1.1.1.1', 'x'), 'ok', 'the block expired');
    assert.equal(gate.admit('2.2.2.2', 'alice'), 'ok', 'the unanswered report expired');
  });

  test('maps are bounded by maxKeys', () => {
    const gate = new ThreadGate(() => {}, { maxUnconfirmed: 4, ackDeadlineMs: 1_000, maxKeys: 5 });
    for (let i = 0; i < 50; i++) {
      gate.block('ip', `10.0.0.${i}`, 60_000);
      gate.trust(`10.0.1.${i}`, 'u', 60_000);
      gate.admit(`10.0.2.${i}`, `user${i}`);
    }
    assert.deepEqual(gate.tracked, { blocked: 5, trusted: 5, unconfirmed: 5 });
  });
});

describe('turnThreads "auto"', () => {
  test('one per core, at most MAX_RELAY_THREADS (the shared cells and the message schema are sized for that many)', async (t) => {
    if (!(await reusePortAvailable())) return t.skip('this Node has no SO_REUSEPORT for UDP: "auto" means 0 here');
    const logger = pino({ level: 'silent' });
    assert.equal(await resolveTurnThreads({ turnPort: 0, turnThreads: 'auto' }, logger, 3), 3);
    assert.equal(await resolveTurnThreads({ turnPort: 0, turnThreads: 'auto' }, logger, 200), MAX_RELAY_THREADS);
    assert.equal(await resolveTurnThreads({ turnPort: false, turnThreads: 'auto' }, logger, 200), 0);
  });
});
