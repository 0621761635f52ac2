/**
 * A relay thread's requests to the main thread (passwords, quota slots),
 * each answered by id. Bounded: at most `maxPending` requests wait at once
 * (beyond, a request is refused at once: `null`), and each one has a
 * deadline, after which it resolves `null` and its id is forgotten (a late
 * answer is handed to `late`, e.g. to give back a quota slot taken too late).
 */
export interface MainCallsOptions {
  /** Most requests waiting for an answer. */
  maxPending: number;
  /** Deadline of one request, ms. */
  timeoutMs: number;
}

interface Pending<A> {
  resolve(answer: A | null): void;
  timer: NodeJS.Timeout;
}

export class MainCalls<A> {
  private readonly pending = new Map<number, Pending<A>>();
  private nextId = 0;
  private timeouts = 0;

  constructor(
    private readonly options: MainCallsOptions,
    private readonly late: (answer: A) => void = () => {},
  ) {}

  /** Sends a request (`send(id)`); resolves its answer, or null when refused, timed out or closed. */
  call(send: (id: number) => void): Promise<A | null> {
    if (this.pending.size >= this.options.maxPending) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.timeouts++;
        resolve(null);
      }, this.options.timeoutMs);
      this.pending.set(id, { resolve, timer });
      send(id);
    });
  }

  /** The main thread's answer to request `id`. */
  answer(id: number, answer: A): void {
    const pending = this.pending.get(id);
    if (!pending) {
      this.late(answer);
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
  }

  /** Resolves every waiting request with null and clears their timers. */
  close(): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.resolve(null);
    }
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Requests that missed their deadline. */
  get timedOut(): number {
    return this.timeouts;
  }
}
