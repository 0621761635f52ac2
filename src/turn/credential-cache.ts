/**
 * TURN's view of the passwords: long-term credentials (RFC 8489 section 9.2)
 * need the password itself, synchronously, while a datagram is checked, but
 * `auth` may be an async function. So TURN reads passwords from this
 * short-lived, bounded cache, filled two ways:
 *
 *  - by signaling, when a user authenticates there (`loggedIn`, the
 *    LoginListener seam of src/auth/logins.ts): the password
 *    the user just proved is valid for TURN for `ttlMs`;
 *  - by the TURN adapter itself on a miss: it holds the request, asks the
 *    `Authenticator` (async), remembers the answer briefly, then goes on.
 *
 * One cache per server (registered in the server's container), so it outlives
 * a restart of the TURN listener.
 */
import type { LoginListener } from '../auth/logins.js';

export interface CachedCredential {
  password: string;
  /** The name the user is known by (quotas count per name). */
  name: string;
}

interface Entry {
  credential: CachedCredential | null;
  expiresAt: number;
}

export interface CredentialCacheOptions {
  /** Most entries kept; the oldest go first. */
  maxEntries?: number;
  /** Milliseconds clock (monotonic is fine). */
  now?: () => number;
  /** Wall clock (ms), for TURN REST expiry. */
  wallClock?: () => number;
}

/** Oldest entries checked for expiry on each insert. */
const EXPIRY_SWEEP = 4;

/** How long a signaling login is good for TURN by default: a call's length, give or take. */
export const SIGNALING_LOGIN_TTL_MS = 10 * 60_000;

/** `ttlMs`, cut short for a TURN REST username ("<expiry-unix-seconds>:<user>") at its expiry. */
export function capAtRestExpiry(username: string, ttlMs: number, wallClock: () => number = Date.now): number {
  const m = /^(\d{1,12}):/.exec(username);
  return m ? Math.min(ttlMs, Number(m[1]) * 1000 - wallClock()) : ttlMs;
}

export class TurnCredentialCache implements LoginListener {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly wallClock: () => number;

  constructor(options: CredentialCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? (() => performance.now());
    this.wallClock = options.wallClock ?? Date.now;
  }

  /** `username` may use TURN with `password` for `ttlMs` (never past a REST username's expiry). */
  remember(username: string, password: string, ttlMs: number, name: string = username): void {
    this.put(username, { password, name }, capAtRestExpiry(username, ttlMs, this.wallClock));
  }

  /**
   * LoginListener: `username` authenticated over signaling with `password`
   * and is known in the room as `name`: TURN then accepts the same
   * credentials without asking `auth` again (the way an async `auth` works
   * with TURN), for SIGNALING_LOGIN_TTL_MS.
   */
  loggedIn(username: string, password: string, name: string): void {
    this.remember(username, password, SIGNALING_LOGIN_TTL_MS, name);
  }

  /** `username` is known to have no credential, for `ttlMs` (spares the auth backend). */
  rememberMissing(username: string, ttlMs: number): void {
    this.put(username, null, ttlMs);
  }

  forget(username: string): void {
    this.entries.delete(username);
  }

  /** The cached credential; null when known missing; undefined when not cached (or expired). */
  lookup(username: string): CachedCredential | null | undefined {
    const entry = this.entries.get(username);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(username);
      return undefined;
    }
    return entry.credential;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /**
   * Deletes expired entries among the oldest few, so that names looked up
   * once (made-up usernames) go when they expire, not only at the cap. A few
   * per insert: no timer, no walk of the whole cache.
   */
  private dropExpired(now: number): void {
    let looked = 0;
    for (const [username, entry] of this.entries) {
      if (++looked > EXPIRY_SWEEP) return;
      if (entry.expiresAt <= now) this.entries.delete(username);
    }
  }

  private put(username: string, credential: CachedCredential | null, ttlMs: number): void {
    if (!(ttlMs > 0)) return;
    const now = this.now();
    this.entries.delete(username);
    this.entries.set(username, { credential, expiresAt: now + ttlMs });
    this.dropExpired(now);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
