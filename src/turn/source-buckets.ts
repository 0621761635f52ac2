/**
 * Token buckets per source (an IP address): `take(key)` spends one token and
 * says whether there was one. Bounded: at most `maxKeys` keys (the least
 * recently used go first; a full bucket is forgotten, it is what an unknown
 * key gets). Arithmetic only, no timer. No node-turn.
 */

export interface SourceBucketsConfig {
  /** Tokens a new source starts with (and the most it holds). */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
  /** Most sources tracked. */
  maxKeys: number;
  /** Milliseconds clock (monotonic is fine). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class SourceBuckets {
  private readonly map = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly now: () => number;

  constructor(private readonly config: SourceBucketsConfig) {
    this.perMs = config.perSecond / 1000;
    this.now = config.now ?? (() => performance.now());
  }

  /** Spends one token of `key`: true when there was one. */
  take(key: string): boolean {
    const now = this.now();
    const bucket = this.map.get(key);
    if (!bucket) {
      if (this.config.burst < 1) return false;
      this.map.set(key, { tokens: this.config.burst - 1, last: now });
      if (this.map.size > this.config.maxKeys) this.map.delete(this.map.keys().next().value as string);
      return true;
    }
    bucket.tokens = Math.min(this.config.burst, bucket.tokens + (now - bucket.last) * this.perMs);
    bucket.last = now;
    // most recently used last: eviction takes the least recently used
    this.map.delete(key);
    this.map.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Sources tracked (for tests of the bound). */
  get size(): number {
    return this.map.size;
  }
}
