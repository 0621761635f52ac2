/** A clock moved by hand, for unit tests of the machines (src/clock.ts is the port). */
import type { Clock } from '../../src/clock.js';

export class ManualClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let dueId = -1;
      let due: { at: number; fn: () => void } | undefined;
      for (const [id, t] of this.timers) {
        if (t.at <= end && (due === undefined || t.at < due.at)) {
          due = t;
          dueId = id;
        }
      }
      if (!due) break;
      this.timers.delete(dueId);
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
  pending(): number {
    return this.timers.size;
  }
}
