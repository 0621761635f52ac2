/**
 * The password-guess throttle as a relay thread sees it (docs/turn-threads.md,
 * "Guess throttle"). The main thread's `GuessThrottle` decides; a thread
 * must answer `admit` at once, so it admits locally and reports:
 *
 *  - every admitted check is reported (`gate.admit`), and every success
 *    (`gate.succeeded`); the main thread takes and gives back the tokens,
 *    acknowledges each report, and when a bucket is empty pushes "blocked
 *    for ms" (`gate.block`) to every thread, and "trusted" for an IP that
 *    logged in as a user (`gate.trust`: a username block does not apply to it);
 *  - a thread admits at most `maxUnconfirmed` checks per IP and per username
 *    not yet acknowledged, so while a block is on its way each thread can
 *    overshoot a limit by at most `maxUnconfirmed` checks (the bound).
 *
 * Every map is bounded (`maxKeys`, oldest first); unacknowledged counts
 * older than `ackDeadlineMs` are forgotten (a main thread that does not answer
 * does not block logins for ever).
 */
import type { AuthGate, GuessVerdict } from '../auth/guess-throttle.js';

export interface ThreadGateOptions {
  maxUnconfirmed: number;
  ackDeadlineMs: number;
  maxKeys: number;
  now?: () => number;
}

export const THREAD_GATE_DEFAULTS: Readonly<ThreadGateOptions> = Object.freeze({ maxUnconfirmed: 4, ackDeadlineMs: 2_000, maxKeys: 10_000 });

interface Unconfirmed {
  n: number;
  since: number;
}

function setBounded<V>(map: Map<string, V>, key: string, value: V, maxKeys: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > maxKeys) map.delete(map.keys().next().value as string);
}

export class ThreadGate implements AuthGate {
  private readonly blocked = new Map<string, number>();
  private readonly trusted = new Map<string, number>();
  private readonly unconfirmed = new Map<string, Unconfirmed>();
  private readonly now: () => number;

  constructor(
    private readonly report: (kind: 'gate.admit' | 'gate.succeeded', ip: string, username: string) => void,
    private readonly options: ThreadGateOptions = THREAD_GATE_DEFAULTS,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  admit(ip: string, username: string): GuessVerdict {
    const now = this.now();
    const ipKey = `i${ip}`;
    const userKey = `u${username}`;
    if (this.isBlocked(ipKey, now) || this.pendingFor(ipKey, now) >= this.options.maxUnconfirmed) return 'ip';
    const trusted = (this.trusted.get(`${username}\n${ip}`) ?? 0) > now;
    if (!trusted && this.isBlocked(userKey, now)) return 'username';
    if (this.pendingFor(userKey, now) >= this.options.maxUnconfirmed) return 'username';
    this.addPending(ipKey, now);
    this.addPending(userKey, now);
    this.report('gate.admit', ip, username);
    return 'ok';
  }

  succeeded(ip: string, username: string): void {
    this.report('gate.succeeded', ip, username);
  }

  /** The main thread took note of one admitted check. */
  acknowledged(ip: string, username: string): void {
    this.removePending(`i${ip}`);
    this.removePending(`u${username}`);
  }

  /** The main thread's bucket for `key` is empty for `ms`. */
  block(scope: 'ip' | 'username', key: string, ms: number): void {
    setBounded(this.blocked, `${scope === 'ip' ? 'i' : 'u'}${key}`, this.now() + ms, this.options.maxKeys);
  }

  /** `ip` logged in as `username`: that user's block does not apply to it for `ms`. */
  trust(ip: string, username: string, ms: number): void {
    setBounded(this.trusted, `${username}\n${ip}`, this.now() + ms, this.options.maxKeys);
  }

  /** Entries held (for tests of the bounds). */
  get tracked(): { blocked: number; trusted: number; unconfirmed: number } {
    return { blocked: this.blocked.size, trusted: this.trusted.size, unconfirmed: this.unconfirmed.size };
  }

  private isBlocked(key: string, now: number): boolean {
    const until = this.blocked.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.blocked.delete(key);
    return false;
  }

  private pendingFor(key: string, now: number): number {
    const entry = this.unconfirmed.get(key);
    if (!entry) return 0;
    if (now - entry.since > this.options.ackDeadlineMs) {
      this.unconfirmed.delete(key);
      return 0;
    }
    return entry.n;
  }

  private addPending(key: string, now: number): void {
    const entry = this.unconfirmed.get(key);
    if (entry) entry.n++;
    else setBounded(this.unconfirmed, key, { n: 1, since: now }, this.options.maxKeys);
  }

  private removePending(key: string): void {
    const entry = this.unconfirmed.get(key);
    if (!entry) return;
    if (--entry.n <= 0) this.unconfirmed.delete(key);
  }
}
