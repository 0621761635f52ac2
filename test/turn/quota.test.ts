/** src/turn/quota.ts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocationQuota } from '../../src/turn/quota.js';

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
