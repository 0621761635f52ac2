/** src/turn/reservation-token.ts: RESERVATION-TOKEN values that name their thread. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RELAY_THREADS } from '../../src/turn/relay-thread-protocol.js';
import { newReservationToken, reservationThread, TOKEN_LENGTH } from '../../src/turn/reservation-token.js';

describe('reservation tokens', () => {
  test('8 ASCII bytes naming threads 0..MAX_RELAY_THREADS, the rest random', () => {
    for (let thread = 0; thread <= MAX_RELAY_THREADS; thread++) {
      const token = newReservationToken(thread);
      assert.equal(token.length, TOKEN_LENGTH);
      assert.equal(Buffer.byteLength(token, 'utf8'), TOKEN_LENGTH, 'ASCII: node-turn writes the value as a string');
      assert.equal(reservationThread(token), thread);
    }
    const many = new Set(Array.from({ length: 1000 }, () => newReservationToken(1)));
    assert.equal(many.size, 1000);
  });

  test('a token naming no thread: wrong length, a first byte outside the indexes', () => {
    assert.equal(reservationThread(''), null);
    assert.equal(reservationThread('1abcdef'), null);
    assert.equal(reservationThread('1abcdefgh'), null);
    assert.equal(reservationThread('/abcdefg'), null, 'below index 0');
    assert.equal(reservationThread(`${String.fromCharCode(0x30 + MAX_RELAY_THREADS + 1)}abcdefg`), null, 'beyond the last thread');
    assert.equal(reservationThread('\u00ffabcdefg'), null);
    assert.throws(() => newReservationToken(MAX_RELAY_THREADS + 1), RangeError);
    assert.throws(() => newReservationToken(-1), RangeError);
  });
});
