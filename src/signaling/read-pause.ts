/**
 * Pauses reading a WebSocket for any of several reasons at once (the rate
 * limit, a pending password check): reading resumes when none is left.
 * While paused, the client's frames wait in TCP buffers (backpressure), not
 * in ours; ws may still emit the frames of the chunk it is parsing.
 */
import type { WebSocket } from 'ws';

export const PauseReason = {
  /** Over `rateLimit`: until the frame budget refills. */
  RATE: 1,
  /** A password check is pending: frames would only be deferred. */
  CHECK: 2,
} as const;
export type PauseReason = (typeof PauseReason)[keyof typeof PauseReason];

export class ReadPause {
  private reasons = 0;

  constructor(private readonly ws: WebSocket) {}

  hold(reason: PauseReason): void {
    if (this.reasons === 0) this.ws.pause();
    this.reasons |= reason;
  }

  release(reason: PauseReason): void {
    if ((this.reasons & reason) === 0) return;
    this.reasons &= ~reason;
    if (this.reasons === 0) this.ws.resume();
  }

  /** Reads again whatever the reasons (a closing socket must read the client's close frame). */
  releaseAll(): void {
    if (this.reasons === 0) return;
    this.reasons = 0;
    this.ws.resume();
  }

  get paused(): boolean {
    return this.reasons !== 0;
  }
}
