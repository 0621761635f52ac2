/**
 * Password-guessing throttle, shared by signaling and TURN. Every password
 * check first takes one token from its source IP's bucket and one from its
 * username's bucket; a success gives both back, a failure keeps them. An
 * empty bucket refuses the attempt unchecked until it refills, so guessing is
 * held to the refill rate however many sockets or datagrams carry it.
 *
 * The real user is not locked out by someone guessing their name: one IP can
 * never empty a username's bucket alone (the username's burst and refill are
 * both larger than an IP's), and an IP from which that user logged in
 * successfully within `trustedMs` skips the username's bucket altogether.
 * Every map is bounded (`maxKeys`, oldest dropped first); full buckets are
 * forgotten. Arithmetic only: no timer.
 */

export interface GuessLimits {
  /** Failures one source IP may have at once, and refilled per minute. */
  ipBurst: number;
  ipPerMinute: number;
  /** Failures one username may have at once (from every IP), and refilled per minute. */
  userBurst: number;
  userPerMinute: number;
  /** How long a successful login trusts its IP for that username. */
  trustedMs: number;
  /** Most IPs and most usernames tracked (each). */
  maxKeys: number;
}

export const DEFAULT_GUESS_LIMITS: Readonly<GuessLimits> = Object.freeze({
  ipBurst: 20,
  ipPerMinute: 20,
  userBurst: 60,
  userPerMinute: 30,
  trustedMs: 24 * 3600_000,
  maxKeys: 100_000,
});

/** Oldest buckets refilled on each new one (each forgotten if full again). */
const SWEEP = 4;

/** Trusted IPs kept per username (the most recent ones). */
const TRUSTED_PER_USER = 8;

export type GuessVerdict = 'ok' | 'ip' | 'username';

/** What checks a password asks before and tells after (the TURN adapter takes this shape too). */
export interface AuthGate {
  /** May a password from `ip` for `username` be checked now? 'ok' takes a token; else which limit refused it. */
  admit(ip: string, username: string): GuessVerdict;
  /** The admitted check succeeded: its tokens come back and `ip` is trusted for `username`. */
  succeeded(ip: string, username: string): void;
}

interface Bucket {
  tokens: number;
  last: number;
}

class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(
    private readonly burst: number,
    private readonly perMs: number,
    private readonly maxKeys: number,
  ) {}

  /** Tokens of `key` at `now` (the bucket is refilled; a full one is forgotten). */
  private refill(key: string, now: number): Bucket | undefined {
    const bucket = this.map.get(key);
    if (!bucket) return undefined;
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.last) * this.perMs);
    bucket.last = now;
    if (bucket.tokens >= this.burst) {
      this.map.delete(key);
      return undefined;
    }
    return bucket;
  }

  has(key: string, now: number): boolean {
    return (this.refill(key, now)?.tokens ?? this.burst) >= 1;
  }

  take(key: string, now: number): void {
    const bucket = this.refill(key, now);
    if (bucket) {
      bucket.tokens -= 1;
      return;
    }
    this.map.set(key, { tokens: this.burst - 1, last: now });
    if (this.map.size > this.maxKeys) this.map.delete(this.map.keys().next().value as string);
    this.forgetRefilled(now);
  }

  /** Ms until `key` has a token again (0: it has one now). */
  waitMs(key: string, now: number): number {
    const tokens = this.refill(key, now)?.tokens ?? this.burst;
    return tokens >= 1 ? 0 : (1 - tokens) / this.perMs;
  }

  give(key: string, now: number): void {
    const bucket = this.refill(key, now);
    if (!bucket) return;
    bucket.tokens += 1;
    if (bucket.tokens >= this.burst) this.map.delete(key); // full again: nothing to remember
  }

  /** Refills the oldest few buckets, which forgets those full again: the map shrinks with time, not only at the cap. */
  private forgetRefilled(now: number): void {
    let looked = 0;
    for (const key of this.map.keys()) {
      if (++looked > SWEEP) return;
      this.refill(key, now);
    }
  }

  get size(): number {
    return this.map.size;
  }
}

export class GuessThrottle implements AuthGate {
  private readonly ips: Buckets;
  private readonly users: Buckets;
  /** username -> (ip -> trusted until), most recent last. */
  private readonly trusted = new Map<string, Map<string, number>>();

  constructor(
    private readonly limits: GuessLimits = DEFAULT_GUESS_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.ips = new Buckets(limits.ipBurst, limits.ipPerMinute / 60_000, limits.maxKeys);
    this.users = new Buckets(limits.userBurst, limits.userPerMinute / 60_000, limits.maxKeys);
  }

  admit(ip: string, username: string): GuessVerdict {
    const now = this.now();
    if (!this.ips.has(ip, now)) return 'ip';
    const trusted = this.isTrusted(ip, username, now);
    if (!trusted && !this.users.has(username, now)) return 'username';
    this.ips.take(ip, now);
    if (!trusted) this.users.take(username, now);
    return 'ok';
  }

  succeeded(ip: string, username: string): void {
    const now = this.now();
    this.released(ip, username, now);
    let ips = this.trusted.get(username);
    if (!ips) {
      ips = new Map();
      this.trusted.set(username, ips);
      if (this.trusted.size > this.limits.maxKeys) this.trusted.delete(this.trusted.keys().next().value as string);
    }
    ips.delete(ip);
    ips.set(ip, now + this.limits.trustedMs);
    if (ips.size > TRUSTED_PER_USER) ips.delete(ips.keys().next().value as string);
  }

  /**
   * The admitted check ended without a verdict (the `auth` backend did not
   * answer in time): not a guess, so its tokens come back; nothing is trusted.
   */
  released(ip: string, username: string, now: number = this.now()): void {
    this.ips.give(ip, now);
    if (!this.isTrusted(ip, username, now)) this.users.give(username, now);
  }

  /**
   * Ms until a check from `ip` (and, from an IP not trusted for it, for
   * `username`) would be admitted again: 0 when it would be now. Relay
   * threads are told these (src/turn/thread-gate.ts).
   */
  waits(ip: string, username: string): { ip: number; username: number } {
    const now = this.now();
    return { ip: this.ips.waitMs(ip, now), username: this.users.waitMs(username, now) };
  }

  /** How long a successful login trusts its IP for that username, ms. */
  get trustedMs(): number {
    return this.limits.trustedMs;
  }

  /** Entries held (for tests of the bounds). */
  get tracked(): { ips: number; usernames: number; trusted: number } {
    return { ips: this.ips.size, usernames: this.users.size, trusted: this.trusted.size };
  }

  private isTrusted(ip: string, username: string, now: number): boolean {
    const until = this.trusted.get(username)?.get(ip);
    return until !== undefined && until > now;
  }
}
