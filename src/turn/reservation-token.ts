/**
 * RESERVATION-TOKEN values (RFC 8656 section 14.9: 8 bytes) that name the
 * thread holding the reserved port (docs/turn-threads.md, "EVEN-PORT
 * reservations"): the first byte is '0' + the thread's index (0: the main
 * thread, i.e. TURN over TCP/TLS, or everything with `turnThreads: 0`;
 * 1..MAX_RELAY_THREADS: a relay thread), the other seven are random
 * base64url characters (42 bits). ASCII throughout: node-turn writes the
 * value as a string. A token naming no thread is no reservation.
 */
import { randomBytes } from 'node:crypto';
import { MAX_RELAY_THREADS } from './relay-thread-protocol.js';

/** RFC 8656 section 14.9: the token is 8 bytes. */
export const TOKEN_LENGTH = 8;
/** The first byte of thread 0's tokens ('0'); thread n's is this + n. */
const INDEX_BASE = 0x30;

/** A new token of thread `thread` (0..MAX_RELAY_THREADS). */
export function newReservationToken(thread: number): string {
  if (!Number.isInteger(thread) || thread < 0 || thread > MAX_RELAY_THREADS) throw new RangeError(`no thread ${thread} to name in a reservation token`);
  return String.fromCharCode(INDEX_BASE + thread) + randomBytes(6).toString('base64url').slice(0, TOKEN_LENGTH - 1);
}

/** The thread `token` (as received, latin1) names, or null when it names none (wrong length, no index). */
export function reservationThread(token: string): number | null {
  if (token.length !== TOKEN_LENGTH) return null;
  const thread = token.charCodeAt(0) - INDEX_BASE;
  return thread >= 0 && thread <= MAX_RELAY_THREADS ? thread : null;
}
