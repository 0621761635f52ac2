/**
 * Stateless NONCEs (RFC 8489 section 9.2, "Long-Term Credential Mechanism"):
 * a nonce is its expiry time and an HMAC binding it to the client's transport
 * address under a per-server random key. Checking one needs no table, so a
 * flood of unauthenticated requests costs no memory and leaves no timers
 * (node-turn keeps every nonce in an object with a one-hour timer each).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NonceOptions {
  /** Seconds a nonce stays valid; after that the client gets 438 and retries. */
  lifetimeSec?: number;
  /** Wall-clock milliseconds. */
  now?: () => number;
  /** HMAC key; random by default (a restart makes old nonces stale: one 438 each). */
  key?: Buffer;
}

export class NonceIssuer {
  private readonly key: Buffer;
  private readonly lifetimeMs: number;
  private readonly now: () => number;

  constructor(options: NonceOptions = {}) {
    this.key = options.key ?? randomBytes(32);
    this.lifetimeMs = (options.lifetimeSec ?? 600) * 1000;
    this.now = options.now ?? Date.now;
  }

  /** A fresh nonce for a client at `source` ("ip:port"). */
  issue(source: string): string {
    const expiry = Math.floor((this.now() + this.lifetimeMs) / 1000).toString(16).padStart(10, '0');
    return expiry + this.mac(expiry, source);
  }

  /** True when `nonce` was issued by us to `source` and has not expired. */
  check(nonce: unknown, source: string): boolean {
    if (typeof nonce !== 'string' || !/^[0-9a-f]{10}[0-9a-f]{32}$/.test(nonce)) return false;
    const expiry = nonce.slice(0, 10);
    const expected = Buffer.from(this.mac(expiry, source), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(nonce.slice(10), 'hex'))) return false;
    return parseInt(expiry, 16) * 1000 > this.now();
  }

  private mac(expiry: string, source: string): string {
    return createHmac('sha256', this.key).update(`${expiry}|${source}`).digest('hex').slice(0, 32);
  }
}
