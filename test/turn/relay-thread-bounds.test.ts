/**
 * The bounds of the relay threads' queues and maps, pushed past: requests
 * waiting for the main thread (MainCalls: count and deadline, late answers),
 * datagrams forwarded to another thread (ForeignOwners: in flight per
 * thread, age, directory size), the thread's guess gate (ThreadGate:
 * unacknowledged checks, pushed blocks, trusted IPs, key count).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ForeignOwners } from '../../src/turn/foreign-owners.js';
import { MainCalls } from '../../src/turn/main-calls.js';
import { ThreadGate } from '../../src/turn/thread-gate.js';
import pino from 'pino';
import { MAX_RELAY_THREADS } from '../../src/turn/relay-thread-protocol.js';
import { resolveTurnThreads, reusePortAvailable } from '../../src/turn/reuse-port.js';

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
  test('forwards to the owner; at most maxInFlight datagrams in flight per thread, beyond dropped; old arrivals dropped', () => {
    const shared = new SharedArrayBuffer(4 * 4);
    const sent: number[] = [];
    const self = new ForeignOwners(1, 2, shared, (to) => sent.push(to), { maxEntries: 2, maxInFlight: 3, deadlineMs: 100 });
    const owner = new ForeignOwners(2, 2, shared, () => {}, { maxEntries: 2, maxInFlight: 3, deadlineMs: 100 });
    self.set('10.0.0.1:1', 2);
    self.set('10.0.0.1:2', 1); // its own: not foreign
    assert.equal(self.size, 1);
    assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.9', 9), false, 'unknown clients are handled here');
    for (let i = 0; i < 5; i++) assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.1', 1), true);
    assert.deepEqual(sent, [2, 2, 2], 'three in flight, two dropped');
    assert.equal(self.dropped, 2);
    assert.equal(owner.arrived(Date.now()), true);
    assert.equal(owner.arrived(Date.now() - 1_000), false, 'older than the deadline');
    assert.equal(owner.dropped, 1);
    self.forwarded(Buffer.from('x'), '10.0.0.1', 1);
    self.forwarded(Buffer.from('x'), '10.0.0.1', 1);
    self.forwarded(Buffer.from('x'), '10.0.0.1', 1);
    assert.equal(sent.length, 5, 'two slots freed by the arrivals, then full again');
    self.set('10.0.0.1:3', 2);
    self.set('10.0.0.1:4', 2);
    assert.equal(self.size, 2, 'maxEntries: the oldest is forgotten');
    assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.1', 1), false);
  });

  test('forwardTo (a redeem of another thread\'s reservation): only to another thread of 1..threads; the same in-flight bound', () => {
    const shared = new SharedArrayBuffer(4 * 4);
    const sent: number[] = [];
    const self = new ForeignOwners(1, 2, shared, (to) => sent.push(to), { maxEntries: 2, maxInFlight: 2, deadlineMs: 100 });
    for (const thread of [0, 1, 3, 64, -1, 1.5, Number.NaN]) assert.equal(self.forwardTo(thread, Buffer.from('x'), '10.0.0.1', 1), false, `thread ${thread}`);
    assert.deepEqual(sent, []);
    for (let i = 0; i < 5; i++) assert.equal(self.forwardTo(2, Buffer.from('x'), '10.0.0.1', 1), true);
    assert.deepEqual(sent, [2, 2], 'two in flight, three dropped');
    assert.equal(self.dropped, 3);
    self.set('10.0.0.2:2', 2);
    assert.equal(self.forwarded(Buffer.from('x'), '10.0.0.2', 2), true);
    assert.equal(sent.length, 2, 'forwarded datagrams of owned clients share the bound');
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
