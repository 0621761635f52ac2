/** src/turn/source-buckets.ts, log-throttle.ts and limits.ts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TURN_LIMITS, resolveLimits } from '../../src/turn/limits.js';
import { LogThrottle } from '../../src/turn/log-throttle.js';
import { SourceBuckets } from '../../src/turn/source-buckets.js';

describe('SourceBuckets', () => {
  test('a burst per key, refilled over time', () => {
    let now = 0;
    const b = new SourceBuckets({ burst: 3, perSecond: 2, maxKeys: 10, now: () => now });
    assert.deepEqual([b.take('a'), b.take('a'), b.take('a'), b.take('a')], [true, true, true, false]);
    assert.equal(b.take('b'), true, 'another key');
    now += 499;
    assert.equal(b.take('a'), false);
    now += 1;
    assert.equal(b.take('a'), true, 'one token per 500 ms');
    now += 60_000;
    assert.deepEqual([b.take('a'), b.take('a'), b.take('a'), b.take('a')], [true, true, true, false], 'never more than the burst');
  });

  test('at most maxKeys keys: pushing 10,000 sources keeps 100, the least recently used go first', () => {
    let now = 0;
    const b = new SourceBuckets({ burst: 1, perSecond: 0, maxKeys: 100, now: () => now });
    b.take('kept');
    for (let i = 0; i < 10_000; i++) {
      b.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
      if (i % 50 === 0) b.take('kept'); // recently used: survives
      now++;
    }
    assert.equal(b.size, 100);
    assert.equal(b.take('kept'), false, 'still tracked: its empty bucket');
    assert.equal(b.take('10.0.0.0'), true, 'evicted long ago: a fresh bucket');
  });
});

describe('LogThrottle', () => {
  test('perSecond lines per window; the next line carries how many were left out', () => {
    let now = 0;
    const log = new LogThrottle(2, () => now);
    assert.deepEqual([log.admit(), log.admit(), log.admit(), log.admit()], [0, 0, null, null]);
    now += 999;
    assert.equal(log.admit(), null);
    now += 1;
    assert.equal(log.admit(), 3);
    assert.equal(log.admit(), 0);
  });
});

describe('TurnLimits', () => {
  test('defaults, each one replaceable', () => {
    assert.equal(DEFAULT_TURN_LIMITS.maxPermissions, 10);
    assert.equal(DEFAULT_TURN_LIMITS.permissionLifetimeMs, 300_000, 'RFC 8656 section 9');
    const limits = resolveLimits({ maxPermissions: 3 });
    assert.equal(limits.maxPermissions, 3);
    assert.equal(limits.maxPeersPerRequest, DEFAULT_TURN_LIMITS.maxPeersPerRequest);
  });
});
