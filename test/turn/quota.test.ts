/** src/turn/quota.ts and src/turn/shared-quota.ts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocationQuota } from '../../src/turn/quota.js';
import { SharedQuota } from '../../src/turn/shared-quota.js';

describe('AllocationQuota', () => {
  test('per user and total', () => {
    const q = new AllocationQuota({ perUser: 1, total: 2 });
    assert.equal(q.take('a'), 'ok');
    assert.equal(q.take('a'), 'user');
    assert.equal(q.take('b'), 'ok');
    assert.equal(q.take('c'), 'total');
    q.release('a');
    assert.equal(q.take('c'), 'ok');
    q.release('nobody');
    assert.equal(q.total, 2);
  });
});

describe('SharedQuota', () => {
  test('a reservation redeemed by its holder: its slot becomes the allocation\'s (none taken) and the directory learns the client', () => {
    const q = new SharedQuota({ perUser: 2, total: 10 });
    assert.equal(q.take(2, 'a', '10.0.0.1:1'), 'ok');
    assert.equal(q.take(2, 'a', null), 'ok', 'the reservation\'s slot');
    assert.equal(q.take(1, 'a', '10.0.0.2:2'), 'user', 'alice holds 2 of 2');
    assert.equal(q.take(2, 'a', '10.0.0.3:3', true), 'ok', 'redeemed: no slot needed');
    assert.equal(q.total, 2);
    assert.equal(q.ownerOf('10.0.0.3:3'), 2);
    assert.equal(q.release(2, 'a', '10.0.0.3:3'), true, 'ends like any allocation');
    assert.equal(q.total, 1);
    assert.equal(q.ownerOf('10.0.0.3:3'), undefined);
  });

  test('a redeem for a client another thread owns changes nothing; a holder without a slot of the user takes one', () => {
    const q = new SharedQuota({ perUser: 1, total: 10 });
    assert.equal(q.take(1, 'a', '10.0.0.1:1'), 'ok');
    assert.deepEqual(q.take(2, 'a', '10.0.0.1:1', true), { moved: 1 });
    assert.equal(q.total, 1);
    assert.equal(q.take(2, 'b', '10.0.0.2:2', true), 'ok', 'thread 2 held none of b\'s: a slot taken');
    assert.equal(q.total, 2);
    assert.equal(q.take(2, 'a', '10.0.0.3:3', true), 'user', 'thread 2 holds none of a\'s, and a\'s quota is full');
  });
});

describe('AllocationQuota, a redeemed reservation', () => {
  test('its slot is counted already: none taken', () => {
    const q = new AllocationQuota({ perUser: 1, total: 1 });
    assert.equal(q.take('a'), 'ok');
    assert.equal(q.take('a', '10.0.0.1:1', true), 'ok');
    assert.equal(q.total, 1);
  });
});
