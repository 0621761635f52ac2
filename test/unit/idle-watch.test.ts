import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../helpers/clock.js';
import { IdleWatch } from '../../src/signaling/idle-watch.js';

function watch(timeout: number) {
  const clock = new ManualClock();
  let idle = 0;
  const w = new IdleWatch(clock, timeout, () => idle++);
  return { clock, w, fired: () => idle };
}

describe('IdleWatch', () => {
  test('fires exactly at the timeout when never touched, once', () => {
    const { clock, fired } = watch(1_000);
    assert.equal(clock.pending(), 1);
    clock.advance(999);
    assert.equal(fired(), 0);
    clock.advance(1);
    assert.equal(fired(), 1);
    assert.equal(clock.pending(), 0);
    clock.advance(10_000);
    assert.equal(fired(), 1);
  });

  test('a touch re-arms the single timer for the time left instead of firing', () => {
    const { clock, w, fired } = watch(1_000);
    clock.advance(400);
    w.touch();
    clock.advance(600); // t=1000: the timer runs, finds 400 ms left
    assert.equal(fired(), 0);
    assert.equal(clock.pending(), 1);
    clock.advance(399); // t=1399
    assert.equal(fired(), 0);
    clock.advance(1); // t=1400 = last touch + timeout
    assert.equal(fired(), 1);
    assert.equal(clock.pending(), 0);
  });

  test('exactly one pending timer, however many touches', () => {
    const { clock, w, fired } = watch(1_000);
    for (let t = 0; t < 5_000; t += 10) {
      w.touch();
      assert.equal(clock.pending(), 1, `t=${t}`);
      clock.advance(10);
    }
    assert.equal(fired(), 0);
    assert.equal(clock.pending(), 1);
    clock.advance(1_000);
    assert.equal(fired(), 1);
    assert.equal(clock.pending(), 0);
  });

  test('stop() cancels the timer: never fires', () => {
    const { clock, w, fired } = watch(1_000);
    clock.advance(500);
    w.stop();
    assert.equal(clock.pending(), 0);
    clock.advance(5_000);
    assert.equal(fired(), 0);
    w.stop(); // idempotent
    assert.equal(clock.pending(), 0);
  });

  test('stop() after a re-arm cancels the re-armed timer', () => {
    const { clock, w, fired } = watch(1_000);
    clock.advance(500);
    w.touch();
    clock.advance(500); // re-armed
    w.stop();
    assert.equal(clock.pending(), 0);
    clock.advance(5_000);
    assert.equal(fired(), 0);
  });

  test('Infinity disables it: no timer at all', () => {
    const { clock, w, fired } = watch(Infinity);
    assert.equal(clock.pending(), 0);
    w.touch();
    assert.equal(clock.pending(), 0);
    clock.advance(1e12);
    assert.equal(fired(), 0);
  });
});
