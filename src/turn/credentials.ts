/**
 * How TURN gets a password: from the cache when it is there, else from the
 * `Authenticator` (the same `auth` as signaling, possibly async). A miss holds
 * the request until the lookup answers. Lookups are bounded so a flood of
 * made-up usernames cannot queue without end, hammer the auth backend, or
 * (with a hung backend) take TURN down:
 *
 *  - at most `maxPending` lookups in flight, and `maxPendingPerSource` per
 *    source IP, so one source cannot take every slot;
 *  - every lookup has a deadline (`timeoutMs`): then its slot is freed,
 *    nothing is cached (the user is not marked missing) and its held
 *    requests are dropped (the client retransmits, RFC 8489 section 6.2.1);
 *    a late answer that finds a credential is still cached, a late "no such
 *    user" is ignored;
 *  - at most `maxHeldPerLookup` requests wait for one lookup.
 */
import type { Authenticator } from '../auth/authenticator.js';
import type { CachedCredential, TurnCredentialCache } from './credential-cache.js';

export interface TurnCredentialsOptions {
  /** How long a looked-up password is trusted, ms (a REST username: never past its expiry). */
  ttlMs?: number;
  /** How long "no such user" is remembered, ms. */
  missTtlMs?: number;
  /** Most lookups in flight; beyond, requests are dropped (the client retransmits). Default 256. */
  maxPending?: number;
  /** Most lookups in flight started by one source IP. Default 16. */
  maxPendingPerSource?: number;
  /** Deadline of one lookup, ms. Default 2000. */
  timeoutMs?: number;
  /** Most requests held waiting for one lookup; beyond, dropped. Default 8. */
  maxHeldPerLookup?: number;
}

/**
 * What an `Authenticator` rejects with when it got no answer (a relay
 * thread's, whose main thread was busy or late): nothing is cached, the held
 * requests are dropped (the client retransmits), as at the deadline.
 */
export class LookupUnanswered extends Error {
  constructor() {
    super('credential lookup unanswered');
  }
}

/** Why `fetch` refused to hold a request. */
export type LookupRefusal = 'busy';

interface Lookup {
  /** True once the credential (or its absence) is cached; false when the deadline passed first. */
  readonly done: Promise<boolean>;
  settle(answered: boolean): void;
  readonly source: string;
  held: number;
  timer: NodeJS.Timeout;
}

export class TurnCredentials {
  private readonly pending = new Map<string, Lookup>();
  /** Source IP -> lookups it started that are in flight (at most `maxPending` keys). */
  private readonly perSource = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly missTtlMs: number;
  private readonly maxPending: number;
  private readonly maxPendingPerSource: number;
  private readonly timeoutMs: number;
  private readonly maxHeld: number;
  private timeouts = 0;

  constructor(
    readonly cache: TurnCredentialCache,
    private readonly authenticator: Pick<Authenticator, 'passwordFor'>,
    options: TurnCredentialsOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.missTtlMs = options.missTtlMs ?? 5_000;
    this.maxPending = options.maxPending ?? 256;
    this.maxPendingPerSource = options.maxPendingPerSource ?? 16;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.maxHeld = options.maxHeldPerLookup ?? 8;
  }

  /** The credential if cached (null: known missing; undefined: not cached). */
  peek(username: string): CachedCredential | null | undefined {
    return this.cache.lookup(username);
  }

  /**
   * Makes sure `username` is in the cache, for a request from `source` (an
   * IP): null when it already is (go on at once); a promise of true once it
   * is, or of false when the lookup timed out (drop the request); 'busy' when
   * the request cannot be held (too many lookups in flight, from that source,
   * or waiting for this one).
   */
  fetch(username: string, source = ''): Promise<boolean> | null | LookupRefusal {
    if (this.cache.lookup(username) !== undefined) return null;
    const running = this.pending.get(username);
    if (running) {
      if (running.held >= this.maxHeld) return 'busy';
      running.held++;
      return running.done;
    }
    if (this.pending.size >= this.maxPending) return 'busy';
    const fromSource = this.perSource.get(source) ?? 0;
    if (fromSource >= this.maxPendingPerSource) return 'busy';
    const lookup = this.start(username, source);
    this.perSource.set(source, fromSource + 1);
    this.pending.set(username, lookup);
    return lookup.done;
  }

  get pendingLookups(): number {
    return this.pending.size;
  }

  /** Lookups that missed their deadline since this was created. */
  get timedOut(): number {
    return this.timeouts;
  }

  /** Source IPs with a lookup in flight (for tests of the bound). */
  get pendingSources(): number {
    return this.perSource.size;
  }

  /** Gives up every lookup in flight (their held requests are dropped) and clears every timer. */
  close(): void {
    for (const [username, lookup] of [...this.pending]) this.finish(username, lookup, false);
  }

  private start(username: string, source: string): Lookup {
    let settle!: (answered: boolean) => void;
    const done = new Promise<boolean>((resolve) => (settle = resolve));
    const lookup: Lookup = {
      done,
      settle,
      source,
      held: 1,
      timer: setTimeout(() => {
        this.timeouts++;
        this.finish(username, lookup, false); // nothing cached: the user is not marked missing
      }, this.timeoutMs),
    };
    this.authenticator.passwordFor(username).then(
      (credential) => {
        const late = this.pending.get(username) !== lookup;
        if (credential) this.cache.remember(username, credential.password, this.ttlMs, credential.name);
        else if (!late) this.cache.rememberMissing(username, this.missTtlMs);
        if (!late) this.finish(username, lookup, true);
      },
      (err: unknown) => {
        if (this.pending.get(username) !== lookup) return;
        if (err instanceof LookupUnanswered) {
          this.timeouts++;
          this.finish(username, lookup, false);
          return;
        }
        this.cache.rememberMissing(username, this.missTtlMs);
        this.finish(username, lookup, true);
      },
    );
    return lookup;
  }

  private finish(username: string, lookup: Lookup, answered: boolean): void {
    if (this.pending.get(username) !== lookup) return;
    clearTimeout(lookup.timer);
    this.pending.delete(username);
    const fromSource = (this.perSource.get(lookup.source) ?? 1) - 1;
    if (fromSource <= 0) this.perSource.delete(lookup.source);
    else this.perSource.set(lookup.source, fromSource);
    lookup.settle(answered);
  }
}
