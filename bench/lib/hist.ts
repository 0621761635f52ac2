/**
 * A latency histogram cheap enough for the load generator's hot path:
 * 10 µs buckets up to 100 ms, 1 ms buckets up to 10 s, one overflow bucket.
 * Histograms from several processes merge by adding their counts.
 */
const FINE_US = 10;
const FINE_BUCKETS = 10_000; // 0 … 100 ms
const COARSE_US = 1_000;
const COARSE_BUCKETS = 9_900; // 100 ms … 10 s
export const BUCKETS = FINE_BUCKETS + COARSE_BUCKETS + 1;

/** Sparse form sent over IPC: [bucket, count] pairs. */
export type SparseHistogram = [number, number][];

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;
  maxUs = 0;

  record(us: number): void {
    if (us < 0) us = 0;
    let bucket: number;
    if (us < FINE_US * FINE_BUCKETS) bucket = Math.floor(us / FINE_US);
    else if (us < FINE_US * FINE_BUCKETS + COARSE_US * COARSE_BUCKETS) bucket = FINE_BUCKETS + Math.floor((us - FINE_US * FINE_BUCKETS) / COARSE_US);
    else bucket = BUCKETS - 1;
    this.counts[bucket]!++;
    this.total++;
    if (us > this.maxUs) this.maxUs = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maxUs = 0;
  }

  toSparse(): SparseHistogram {
    const out: SparseHistogram = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] !== 0) out.push([i, this.counts[i]!]);
    return out;
  }

  add(sparse: SparseHistogram, maxUs: number): void {
    for (const [bucket, count] of sparse) {
      this.counts[bucket]! += count;
      this.total += count;
    }
    if (maxUs > this.maxUs) this.maxUs = maxUs;
  }

  /** The upper edge of the bucket holding quantile `q` (0…1), in milliseconds; null when empty. */
  quantileMs(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeUs(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }
}

function upperEdgeUs(bucket: number): number {
  if (bucket < FINE_BUCKETS) return (bucket + 1) * FINE_US;
  if (bucket < FINE_BUCKETS + COARSE_BUCKETS) return FINE_US * FINE_BUCKETS + (bucket - FINE_BUCKETS + 1) * COARSE_US;
  return Number.POSITIVE_INFINITY;
}

/** Microseconds on the system-wide monotonic clock (comparable between processes on one machine). */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}
