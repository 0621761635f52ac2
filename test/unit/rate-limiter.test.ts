import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EPISODE_GAP_MS, FrameBudget } from '../../src/signaling/rate-limiter.js';

const LIMIT = { perSecond: 50, burst: 100, abuseSeconds: 10 };

/** Frames taken at `now` before the budget asks for a pause. */
function takeUntilPause(budget: FrameBudget, now: number, max = 10_000): number {
  for (let i = 0; i < max; i++) if (budget.take(now) > 0) return i;
  return max;
}

/**
 * A client that always has frames waiting: it is read until the budget asks
 * for a pause, paused for as long as asked, then read again. Returns when
 * it is judged abusive (ms since start), or null after `forMs`.
 */
function sustained(budget: FrameBudget, start: number, forMs: number): number | null {
  let now = start;
  while (now - start < forMs) {
    const pause = budget.take(now);
    if (pause === 0) continue;
    if (budget.pausing(now)) return now - start;
    let left = pause;
    while (left > 0) {
      now += left;
      left = budget.resume(now);
      if (left < 0) return now - start;
    }
  }
  return null;
}

describe('FrameBudget', () => {
  test('a burst of `burst` frames reads on; the next one asks for a pause', () => {
    const budget = new FrameBudget(LIMIT, 0);
    assert.equal(takeUntilPause(budget, 0), 100);
  });

  test('the pause lasts until the debt is paid and a small batch is back (perSecond / 10 tokens)', () => {
    const budget = new FrameBudget(LIMIT, 0);
    takeUntilPause(budget, 0);
    // 101 frames taken: debt 1, wants 5 tokens back -> 6 tokens at 50/s = 120 ms
    assert.equal(budget.take(0), 140, 'one more frame read meanwhile adds to the pause');
    assert.equal(budget.pausing(0), false);
    assert.equal(budget.resume(100), 40, 'not yet: 40 ms more');
    assert.equal(budget.resume(140), 0, 'resumed');
    assert.equal(takeUntilPause(budget, 140), 5, 'then a batch of 5');
  });

  test('frames are never refused: take() only ever says how long to pause', () => {
    const budget = new FrameBudget({ perSecond: 1, burst: 1, abuseSeconds: 10 }, 0);
    assert.equal(budget.take(0), 0);
    const pauses = [budget.take(0), budget.take(0), budget.take(0)];
    assert.deepEqual(pauses, [2000, 3000, 4000]);
  });

  test('a client sending at the limit after a burst is never judged abusive', () => {
    const budget = new FrameBudget(LIMIT, 0);
    takeUntilPause(budget, 0, 150); // a 150-frame burst: 50 over
    let now = 0;
    let pausedFor = 0;
    for (let i = 0; i < 2_000; i++) {
      now += 1000 / 45; // 45 frames/s for ~44 s, under the 50/s limit
      const pause = budget.take(now);
      if (pause > 0) {
        assert.equal(budget.pausing(now), false, `judged abusive at ${now} ms`);
        pausedFor += pause;
        now += pause;
        assert.equal(budget.resume(now), 0);
      }
    }
    assert.ok(pausedFor < 2_000, `paused ${pausedFor} ms in all`);
  });

  test('a client that always has more to send is abusive after abuseSeconds, not before', () => {
    const at = sustained(new FrameBudget(LIMIT, 0), 0, 30_000);
    assert.ok(at !== null && at >= 10_000 && at < 10_500, `judged abusive at ${at} ms`);
  });

  test('a pause after EPISODE_GAP_MS of reading starts a new episode: bursts now and then are never abusive', () => {
    const budget = new FrameBudget({ perSecond: 50, burst: 200, abuseSeconds: 10 }, 0);
    let now = 0;
    for (let burst = 0; burst < 20; burst++) {
      // a 16-peer newcomer's burst every few seconds: 135 frames at once, plus some over
      for (let i = 0; i < 250; i++) {
        const pause = budget.take(now);
        if (pause === 0) continue;
        assert.equal(budget.pausing(now), false, `burst ${burst}: judged abusive`);
        for (let left = pause; left > 0; left = budget.resume(now)) now += left;
      }
      now += EPISODE_GAP_MS + 4_000;
    }
  });
});
