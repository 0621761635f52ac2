import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckQueue } from '../../src/auth/check-queue.js';
import { DEFAULT_GUESS_LIMITS, GuessThrottle } from '../../src/auth/guess-throttle.js';
import type { GuessLimits, GuessVerdict } from '../../src/auth/guess-throttle.js';
import { ManualClock } from '../helpers/clock.js';

function queue(limits: Partial<GuessLimits>, maxWaiting = 100) {
  const clock = new ManualClock();
  const gate = new GuessThrottle({ ...DEFAULT_GUESS_LIMITS, ...limits }, () => clock.now());
  return { clock, gate, q: new CheckQueue(gate, clock, { maxWaiting }) };
}

/** The verdict of `p` if it has settled (after the microtasks of this turn), else 'waiting'. */
async function state(p: Promise<GuessVerdict>): Promise<GuessVerdict | 'waiting'> {
  return Promise.race([p, new Promise<'waiting'>((resolve) => setImmediate(() => resolve('waiting')))]);
}

describe('CheckQueue (signaling password checks in front of the guess throttle)', () => {
  test('a check refused while others from its IP are in flight waits, and goes in as each ends right (oldest first)', async () => {
    const { q } = queue({ ipBurst: 2 });
    assert.equal(await q.admit('10.0.0.1', 'a', 5_000), 'ok');
    assert.equal(await q.admit('10.0.0.1', 'b', 5_000), 'ok');
    const c = q.admit('10.0.0.1', 'c', 5_000);
    const d = q.admit('10.0.0.1', 'd', 5_000);
    assert.equal(await state(c), 'waiting');
    assert.equal(q.waitingCount, 2);
    q.done('10.0.0.1', 'a', 'right');
    assert.equal(await state(c), 'ok');
    assert.equal(await state(d), 'waiting', 'one token came back: one check goes in');
    q.done('10.0.0.1', 'b', 'right');
    assert.equal(await state(d), 'ok');
    assert.equal(q.waitingCount, 0);
  });

  test('refused at once when nothing is in flight: failures emptied the bucket (guessing keeps its rate)', async () => {
    const { q } = queue({ ipBurst: 2 });
    for (const name of ['a', 'b']) {
      assert.equal(await q.admit('10.0.0.1', name, 5_000), 'ok');
      q.done('10.0.0.1', name, 'wrong');
    }
    assert.equal(await state(q.admit('10.0.0.1', 'c', 5_000)), 'ip');
    assert.equal(q.waitingCount, 0);
  });

  test('a waiting check is refused when the checks in flight fail', async () => {
    const { q } = queue({ ipBurst: 1 });
    assert.equal(await q.admit('10.0.0.1', 'a', 5_000), 'ok');
    const b = q.admit('10.0.0.1', 'b', 5_000);
    assert.equal(await state(b), 'waiting');
    q.done('10.0.0.1', 'a', 'wrong');
    assert.equal(await state(b), 'ip');
    assert.equal(q.waitingCount, 0);
  });

  test('a username refused while its own checks are in flight waits for them', async () => {
    const { q } = queue({ userBurst: 1 });
    assert.equal(await q.admit('10.0.0.1', 'alice', 5_000), 'ok');
    const again = q.admit('10.0.0.2', 'alice', 5_000);
    assert.equal(await state(again), 'waiting');
    q.done('10.0.0.1', 'alice', 'right');
    assert.equal(await state(again), 'ok');
  });

  test('a check waits at most maxWaitMs, then is refused (its timer gone)', async () => {
    const { q, clock } = queue({ ipBurst: 1 });
    assert.equal(await q.admit('10.0.0.1', 'a', 5_000), 'ok');
    const b = q.admit('10.0.0.1', 'b', 2_000);
    clock.advance(1_999);
    assert.equal(await state(b), 'waiting');
    clock.advance(1);
    assert.equal(await state(b), 'ip');
    assert.equal(q.waitingCount, 0);
    assert.equal(clock.pending(), 0);
    q.done('10.0.0.1', 'a', 'right'); // the late end of the first check wakes nobody
    assert.equal(q.waitingCount, 0);
  });

  test('at most maxWaiting checks wait: beyond, refused at once', async () => {
    const { q, clock } = queue({ ipBurst: 1 }, 3);
    assert.equal(await q.admit('10.0.0.1', 'a', 5_000), 'ok');
    const waiting = [1, 2, 3].map((i) => q.admit('10.0.0.1', `w${i}`, 5_000));
    assert.equal(await state(q.admit('10.0.0.1', 'x', 5_000)), 'ip');
    assert.equal(q.waitingCount, 3);
    clock.advance(5_000);
    for (const w of waiting) assert.equal(await state(w), 'ip');
    assert.equal(q.waitingCount, 0);
  });

  test('a check that ends tries the oldest waiting ones only until one is still refused (no work per waiting check)', async () => {
    const { q, gate } = queue({ ipBurst: 1 }, 10_000);
    assert.equal(await q.admit('10.0.0.1', 'first', 5_000), 'ok');
    const waiting = Array.from({ length: 5_000 }, (_, i) => q.admit('10.0.0.1', `u${i}`, 5_000));
    let asked = 0;
    const admit = gate.admit.bind(gate);
    gate.admit = (ip, username) => (asked++, admit(ip, username));
    q.done('10.0.0.1', 'first', 'right');
    assert.equal(await state(waiting[0]!), 'ok');
    assert.equal(await state(waiting[1]!), 'waiting');
    assert.ok(asked <= 2, `the throttle was asked ${asked} times`);
    q.done('10.0.0.1', 'u0', 'wrong'); // nothing in flight any more: every one still waiting is refused, once each
    assert.ok(asked <= 2 + 4_999, `asked ${asked}`);
    for (const w of waiting.slice(1)) assert.equal(await state(w), 'ip');
    assert.equal(q.waitingCount, 0);
  });

  test('a right password gives its tokens back and trusts its IP; an abandoned check gives them back; a wrong one keeps them', async () => {
    const { q, gate } = queue({ ipBurst: 3, userBurst: 3 });
    assert.equal(await q.admit('10.0.0.1', 'a', 0), 'ok');
    q.done('10.0.0.1', 'a', 'right');
    assert.deepEqual(gate.tracked, { ips: 0, usernames: 0, trusted: 1 }, 'buckets full again: forgotten');
    assert.equal(await q.admit('10.0.0.1', 'b', 0), 'ok');
    q.done('10.0.0.1', 'b', 'abandoned');
    assert.deepEqual(gate.tracked, { ips: 0, usernames: 0, trusted: 1 }, 'no token kept, b not trusted');
    assert.equal(await q.admit('10.0.0.1', 'c', 0), 'ok');
    q.done('10.0.0.1', 'c', 'wrong');
    assert.deepEqual(gate.tracked, { ips: 1, usernames: 1, trusted: 1 });
  });

  test('a check refused while one is in flight goes in when that one is abandoned', async () => {
    const { q } = queue({ ipBurst: 1 });
    assert.equal(await q.admit('10.0.0.1', 'a', 5_000), 'ok');
    const b = q.admit('10.0.0.1', 'b', 5_000);
    assert.equal(await state(b), 'waiting');
    q.done('10.0.0.1', 'a', 'abandoned');
    assert.equal(await state(b), 'ok');
  });
});
