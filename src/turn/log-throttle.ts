/**
 * At most `perSecond` log lines per one-second window, so a flood of
 * failures cannot flood the logs too. The first line after a window that
 * dropped lines says how many (`suppressed`). No timer, no map.
 */
export class LogThrottle {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Null when this line must be dropped; else the number of lines dropped
   * since the last one written (0 most of the time), to log with it.
   */
  admit(): number | null {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed++;
      return null;
    }
    this.inWindow++;
    const dropped = this.suppressed;
    this.suppressed = 0;
    return dropped;
  }
}
