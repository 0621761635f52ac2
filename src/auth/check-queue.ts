/**
 * Signaling's password checks, in front of the guess throttle
 * (guess-throttle.ts). The throttle takes a token per check up front and
 * gives it back on success, so a check in flight counts as a possible guess:
 * with a slow `auth` backend, 21 users behind one address (an office, a
 * carrier's NAT) logging in at once would see the 21st refused, answered
 * `unauthorized` although its password is right. Here such a check waits
 * instead: refused while checks from the same IP (or for the same username)
 * are still in flight, it is tried again as each of them ends, until
 * admitted or `maxWaitMs` has passed. A refusal with nothing in flight (the
 * bucket emptied by failures) is answered at once, as before, so guessing is
 * held to exactly the throttle's rate.
 *
 * Bounded: at most `maxWaiting` checks wait at once (beyond, refused at
 * once); each waits at most `maxWaitMs` (one timer each); the in-flight
 * counts hold only keys with checks in flight; a check that ends tries the
 * oldest waiting ones only until one is still refused.
 */
import type { Clock } from '../clock.js';
import type { AuthGate, GuessVerdict } from './guess-throttle.js';

/** The throttle as signaling uses it: a check may also end without a verdict (its backend timed out). */
export interface SignalingGate extends AuthGate {
  released(ip: string, username: string): void;
}

/** How an admitted check ended: the password was right, wrong, or the backend gave no verdict in time. */
export type CheckOutcome = 'right' | 'wrong' | 'abandoned';

export interface CheckQueueOptions {
  /** Checks waiting at once, at most. */
  maxWaiting: number;
}

export const CHECK_QUEUE_DEFAULTS: Readonly<CheckQueueOptions> = Object.freeze({ maxWaiting: 10_000 });

interface Waiter {
  ip: string;
  username: string;
  /** The limit it waits on (its queue: its IP's or its username's). */
  refusedBy: Exclude<GuessVerdict, 'ok'>;
  resolve(verdict: GuessVerdict): void;
  timer: unknown;
}

export class CheckQueue {
  private readonly inFlightByIp = new Map<string, number>();
  private readonly inFlightByUser = new Map<string, number>();
  /** Waiting checks by the key that refused them (`ip:` or `user:` + the key), in arrival order. */
  private readonly waiting = new Map<string, Set<Waiter>>();
  private waiters = 0;

  constructor(
    private readonly gate: SignalingGate,
    private readonly clock: Clock,
    private readonly options: CheckQueueOptions = CHECK_QUEUE_DEFAULTS,
  ) {}

  /** Checks waiting now (for tests of the bound). */
  get waitingCount(): number {
    return this.waiters;
  }

  /**
   * May a password from `ip` for `username` be checked? Resolves 'ok' (the
   * check is then in flight: call `done` when it ends) or the limit that
   * refused it, at once or after waiting at most `maxWaitMs`.
   */
  admit(ip: string, username: string, maxWaitMs: number): Promise<GuessVerdict> {
    const verdict = this.tryAdmit(ip, username);
    if (verdict === 'ok' || !this.worthWaiting(verdict, ip, username) || this.waiters >= this.options.maxWaiting || maxWaitMs <= 0) {
      return Promise.resolve(verdict);
    }
    return new Promise<GuessVerdict>((resolve) => {
      const waiter: Waiter = { ip, username, refusedBy: verdict, resolve, timer: null };
      waiter.timer = this.clock.setTimeout(() => this.settle(waiter, waiter.refusedBy), maxWaitMs);
      this.enqueue(waiter, verdict);
    });
  }

  /**
   * The admitted check ended. Right: its tokens come back and its IP is
   * trusted for `username`; wrong: its tokens stay taken (a guess);
   * abandoned: its tokens come back. Checks waiting on its IP or username are tried again.
   */
  done(ip: string, username: string, outcome: CheckOutcome): void {
    if (outcome === 'right') this.gate.succeeded(ip, username);
    else if (outcome === 'abandoned') this.gate.released(ip, username);
    decrement(this.inFlightByIp, ip);
    decrement(this.inFlightByUser, username);
    this.retry(queueKey('ip', ip, username));
    this.retry(queueKey('username', ip, username));
  }

  private tryAdmit(ip: string, username: string): GuessVerdict {
    const verdict = this.gate.admit(ip, username);
    if (verdict === 'ok') {
      increment(this.inFlightByIp, ip);
      increment(this.inFlightByUser, username);
    }
    return verdict;
  }

  /** Refused while checks it shares a limit with are in flight: their tokens may come back. */
  private worthWaiting(verdict: Exclude<GuessVerdict, 'ok'>, ip: string, username: string): boolean {
    return verdict === 'ip' ? this.inFlightByIp.has(ip) : this.inFlightByUser.has(username);
  }

  private enqueue(waiter: Waiter, verdict: Exclude<GuessVerdict, 'ok'>): void {
    const key = queueKey(verdict, waiter.ip, waiter.username);
    let queue = this.waiting.get(key);
    if (!queue) this.waiting.set(key, (queue = new Set()));
    queue.add(waiter);
    waiter.refusedBy = verdict;
    this.waiters++;
  }

  private dequeue(waiter: Waiter): void {
    const key = queueKey(waiter.refusedBy, waiter.ip, waiter.username);
    const queue = this.waiting.get(key);
    if (!queue?.delete(waiter)) return;
    this.waiters--;
    if (queue.size === 0) this.waiting.delete(key);
  }

  /**
   * Tries the checks waiting on `key` again, oldest first, and stops at the
   * first one its limit still refuses while checks are in flight (the rest
   * would be too): one check's end costs a try or two, not one per waiting
   * check. With nothing left in flight, every one still waiting is refused.
   */
  private retry(key: string): void {
    const queue = this.waiting.get(key);
    if (!queue) return;
    for (const waiter of queue) {
      const verdict = this.tryAdmit(waiter.ip, waiter.username);
      const again = verdict !== 'ok' && this.worthWaiting(verdict, waiter.ip, waiter.username);
      if (again && verdict === waiter.refusedBy) return; // still refused by the limit it waits on
      this.dequeue(waiter);
      if (again) this.enqueue(waiter, verdict); // now waiting on its other limit
      else this.settle(waiter, verdict);
    }
  }

  /** Ends a wait with `verdict`. */
  private settle(waiter: Waiter, verdict: GuessVerdict): void {
    this.clock.clearTimeout(waiter.timer);
    this.dequeue(waiter);
    waiter.resolve(verdict);
  }
}

/** The queue of checks refused by `verdict`'s limit: their IP's or their username's. */
function queueKey(verdict: Exclude<GuessVerdict, 'ok'>, ip: string, username: string): string {
  return verdict === 'ip' ? `ip:${ip}` : `user:${username}`;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
