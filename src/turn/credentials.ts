/**
 * How TURN gets a password: from the cache when it is there, else from the
 * `Authenticator` (the same `auth` as signaling, possibly async). A miss holds
 * the request until the lookup answers; lookups are bounded so a flood of
 * made-up usernames cannot queue without end or hammer the auth backend.
 */
import type { Authenticator } from '../auth/authenticator.js';
import type { CachedCredential, TurnCredentialCache } from './credential-cache.js';

export interface TurnCredentialsOptions {
  /** How long a looked-up password is trusted, ms (a REST username: never past its expiry). */
  ttlMs?: number;
  /** How long "no such user" is remembered, ms. */
  missTtlMs?: number;
  /** Most lookups in flight; beyond, requests are dropped (the client retransmits). */
  maxPending?: number;
}

export class TurnCredentials {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly ttlMs: number;
  private readonly missTtlMs: number;
  private readonly maxPending: number;

  constructor(
    readonly cache: TurnCredentialCache,
    private readonly authenticator: Pick<Authenticator, 'passwordFor'>,
    options: TurnCredentialsOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.missTtlMs = options.missTtlMs ?? 5_000;
    this.maxPending = options.maxPending ?? 256;
  }

  /** The credential if cached (null: known missing; undefined: not cached). */
  peek(username: string): CachedCredential | null | undefined {
    return this.cache.lookup(username);
  }

  /**
   * Makes sure `username` is in the cache: null when it already is (go on at
   * once), a promise that resolves once it is, or 'busy' when too many lookups
   * are in flight.
   */
  fetch(username: string): Promise<void> | null | 'busy' {
    if (this.cache.lookup(username) !== undefined) return null;
    const running = this.pending.get(username);
    if (running) return running;
    if (this.pending.size >= this.maxPending) return 'busy';
    const lookup = this.authenticator.passwordFor(username).then(
      (credential) => {
        if (credential) this.cache.remember(username, credential.password, this.ttlMs, credential.name);
        else this.cache.rememberMissing(username, this.missTtlMs);
      },
      () => this.cache.rememberMissing(username, this.missTtlMs),
    ).finally(() => this.pending.delete(username));
    this.pending.set(username, lookup);
    return lookup;
  }

  get pendingLookups(): number {
    return this.pending.size;
  }
}
