/**
 * One idle timer per connection, re-armed cheaply: `touch()` only records the
 * time; the single timer, when it fires, re-arms itself for the time left
 * or reports idleness. No timer is created or cancelled per frame.
 */
import type { Clock } from '../clock.js';

export class IdleWatch {
  private last: number;
  private timer: unknown = null;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly onIdle: () => void,
  ) {
    this.last = clock.now();
    if (Number.isFinite(timeoutMs)) this.arm(timeoutMs);
  }

  /** Records activity at `now` (pass the time when the caller has it already). */
  touch(now = this.clock.now()): void {
    this.last = now;
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimeout(() => this.check(), ms);
  }

  private check(): void {
    const left = this.last + this.timeoutMs - this.clock.now();
    if (left > 0) {
      this.arm(left);
    } else {
      this.timer = null;
      this.onIdle();
    }
  }
}
