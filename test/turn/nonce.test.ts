/** src/turn/nonce.ts: stateless nonces. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NonceIssuer } from '../../src/turn/nonce.js';

describe('NonceIssuer', () => {
  test('bound to the source, expires, rejects forgeries', () => {
    let now = 1_700_000_000_000;
    const n = new NonceIssuer({ lifetimeSec: 10, now: () => now });
    const nonce = n.issue('1.2.3.4:5');
    assert.ok(nonce.length < 128);
    assert.ok(n.check(nonce, '1.2.3.4:5'));
    assert.ok(!n.check(nonce, '1.2.3.4:6'));
    const forged = nonce.slice(0, -1) + (nonce.endsWith('0') ? '1' : '0');
    assert.ok(!n.check(forged, '1.2.3.4:5'));
    assert.ok(!n.check('f//499k954d6OL34oL9FSTvy64sA', '1.2.3.4:5'));
    assert.ok(!n.check(undefined, '1.2.3.4:5'));
    now += 11_000;
    assert.ok(!n.check(nonce, '1.2.3.4:5'));
    assert.ok(!new NonceIssuer({ now: () => now }).check(n.issue('a'), 'a'), 'another server key');
  });
});
