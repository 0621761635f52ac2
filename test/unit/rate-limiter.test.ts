import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/signaling/rate-limiter.js';

function takeN(bucket: TokenBucket, n: number, now: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (bucket.take(now)) ok++;
  return ok;
}

describe('TokenBucket', () => {
  test('allows a burst of exactly `burst` frames at once, then refuses', () => {
    const bucket = new TokenBucket(50, 100, 0);
    assert.equal(takeN(bucket, 100, 0), 100);
    assert.equal(bucket.take(0), false);
    assert.equal(bucket.take(0), false);
  });

  test('refills at perSecond: one token every 1000/perSecond ms', () => {
    const bucket = new TokenBucket(50, 100, 0);
    takeN(bucket, 100, 0);
    assert.equal(bucket.take(19), false); // 0.95 token
    assert.equal(bucket.take(20), true); // 0.95 + 0.05 = 1
    assert.equal(bucket.take(20), false);
    assert.equal(takeN(bucket, 10, 220), 10); // 200 ms → 10 tokens
    assert.equal(bucket.take(220), false);
  });

  test('fractional refill accumulates across refused takes', () => {
    const bucket = new TokenBucket(50, 1, 0);
    assert.equal(bucket.take(0), true);
    assert.equal(bucket.take(10), false); // 0.5
    assert.equal(bucket.take(20), true); // 1.0
  });

  test('never holds more than `burst` tokens, however long idle', () => {
    const bucket = new TokenBucket(50, 100, 0);
    takeN(bucket, 100, 0);
    assert.equal(takeN(bucket, 150, 3_600_000), 100);
  });

  test('a steady rate at perSecond is never refused; above it, the burst drains', () => {
    const steady = new TokenBucket(50, 100, 0);
    for (let t = 0; t < 10_000; t += 20) assert.equal(steady.take(t), true, `t=${t}`);
    const fast = new TokenBucket(50, 100, 0);
    let refusedAt = -1;
    for (let i = 0; i < 1_000; i++) {
      if (!fast.take(i * 10)) {
        refusedAt = i;
        break;
      }
    }
    // 100 frames/s against 50/s: the burst of 100 drains by ~50 tokens per second
    assert.ok(refusedAt > 100 && refusedAt < 250, `refused at frame ${refusedAt}`);
  });

  test('starts full relative to its creation time', () => {
    const bucket = new TokenBucket(1, 2, 5_000);
    assert.equal(takeN(bucket, 3, 5_000), 2);
    assert.equal(bucket.take(5_999), false);
    assert.equal(bucket.take(6_000), true);
  });
});
