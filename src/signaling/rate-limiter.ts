/**
 * The frame budget of one socket (`rateLimit`, docs/protocol.md): a token bucket
 * of `burst` frames refilled at `perSecond`, which never drops a frame. A
 * frame that finds the bucket empty is still handled, on credit, and the
 * socket stops being read (TCP backpressure) until the debt is paid and a
 * few tokens are back: a burst is delayed, never lost. Only a client that
 * stays over the limit, pause after pause, for `abuseSeconds` is abusive.
 *
 * One per connection; `take()` is arithmetic only (no timer, no allocation):
 * the connection owns the pause timer.
 */

/** Reading resumed this long before the next pause starts a new episode of throttling. */
export const EPISODE_GAP_MS = 1000;

export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
  readonly abuseSeconds: number;
}

export class FrameBudget {
  private tokens: number;
  private last: number;
  /** Tokens wanted back before reading resumes: a small batch, not one frame per pause. */
  private readonly resumeLevel: number;
  private readonly abuseMs: number;
  /** When the current episode of throttling began (pauses less than EPISODE_GAP_MS apart), or NaN. */
  private episodeStart = Number.NaN;
  private lastResume = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.last = now;
    this.resumeLevel = Math.min(limit.burst, Math.max(1, limit.perSecond / 10));
    this.abuseMs = limit.abuseSeconds * 1000;
  }

  /**
   * Takes one token for a frame at `now`. Returns 0 to read on, or the ms
   * to stop reading for when the bucket ran dry.
   */
  take(now: number): number {
    this.refill(now);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : this.pauseMs();
  }

  /**
   * Reading pauses at `now`: true when this client has been over the limit
   * for `abuseSeconds` (pauses that follow each other within EPISODE_GAP_MS
   * of reading make one episode).
   */
  pausing(now: number): boolean {
    if (Number.isNaN(this.episodeStart) || now - this.lastResume > EPISODE_GAP_MS) this.episodeStart = now;
    return this.abusive(now);
  }

  /**
   * The pause timer fired at `now`: 0 to read again; else the ms still to
   * wait (frames read just after the pause began added to the debt), or -1
   * when the episode has lasted `abuseSeconds`.
   */
  resume(now: number): number {
    this.refill(now);
    if (this.tokens >= this.resumeLevel - 1e-9) {
      this.lastResume = now;
      return 0;
    }
    return this.abusive(now) ? -1 : this.pauseMs();
  }

  private abusive(now: number): boolean {
    return now - this.episodeStart >= this.abuseMs;
  }

  private pauseMs(): number {
    return Math.max(1, Math.ceil(((this.resumeLevel - this.tokens) * 1000) / this.limit.perSecond));
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) * this.limit.perSecond) / 1000);
    this.last = now;
  }
}
