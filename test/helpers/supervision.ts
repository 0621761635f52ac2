/**
 * Fake workers for supervisor tests: each records `start:<id>`, `stop:<id>`,
 * `kill:<id>` into a shared log, and can be told to crash or to exit
 * normally. A worker can be slow (or never done) to stop, and a child spec
 * can be told to fail its next start(s).
 */
import type { ChildSpec, ExitReason, RestartType, Worker } from '../../src/otp/worker.js';


export interface FakeWorkerOptions {
  /** `stop()` resolves only when `finishStop()` is called (or never). */
  slowStop?: boolean;
}

export class FakeWorker implements Worker {
  private listener: ((reason: ExitReason) => void) | null = null;
  private pendingExit: ExitReason | null = null;
  private releaseStop: (() => void) | null = null;
  stopCalls = 0;
  killCalls = 0;
  exited = false;

  constructor(
    readonly id: string,
    readonly incarnation: number,
    private readonly log: string[],
    private readonly options: FakeWorkerOptions = {},
  ) {}

  stop(): Promise<void> {
    this.stopCalls++;
    this.log.push(`stop:${this.id}`);
    if (!this.options.slowStop) return Promise.resolve();
    return new Promise((resolve) => {
      this.releaseStop = () => {
        this.log.push(`stopped:${this.id}`);
        resolve();
      };
    });
  }

  /** Lets a slow `stop()` complete. */
  finishStop(): void {
    this.releaseStop?.();
  }

  kill(): void {
    this.killCalls++;
    this.log.push(`kill:${this.id}`);
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.listener = listener;
    if (this.pendingExit !== null) listener(this.pendingExit);
  }

  /** Exits on its own with an error. */
  crash(message = `${this.id} crashed`): void {
    this.exit(new Error(message));
  }

  /** Exits on its own, cleanly. */
  exitNormally(reason: 'normal' | 'shutdown' = 'normal'): void {
    this.exit(reason);
  }

  private exit(reason: ExitReason): void {
    if (this.exited) throw new Error(`${this.id}#${this.incarnation} already exited`);
    this.exited = true;
    this.log.push(`exit:${this.id}`);
    this.pendingExit = reason;
    this.listener?.(reason);
  }
}

/** Every worker started from specs made by one `FakeChildren`, by id, latest last. */
export class FakeChildren {
  readonly log: string[] = [];
  private readonly started = new Map<string, FakeWorker[]>();
  /** Number of upcoming starts of `id` that fail (rejected promise). */
  private readonly failures = new Map<string, number>();

  /** The latest worker started for `id`. */
  current(id: string): FakeWorker {
    const all = this.started.get(id);
    const last = all?.[all.length - 1];
    if (!last) throw new Error(`no worker started for ${id}`);
    return last;
  }

  /** How many times `id` was started successfully. */
  starts(id: string): number {
    return this.started.get(id)?.length ?? 0;
  }

  /** The next `count` starts of `id` fail. */
  failNextStarts(id: string, count = 1): void {
    this.failures.set(id, count);
  }

  /** Creates a worker for `id` now (as a start function does), honouring planned failures. */
  create(id: string, options: FakeWorkerOptions = {}): FakeWorker {
    const failing = this.failures.get(id) ?? 0;
    if (failing > 0) {
      this.failures.set(id, failing - 1);
      this.log.push(`startfail:${id}`);
      throw new Error(`${id} failed to start`);
    }
    const list = this.started.get(id) ?? [];
    const worker = new FakeWorker(id, list.length + 1, this.log, options);
    list.push(worker);
    this.started.set(id, list);
    this.log.push(`start:${id}`);
    return worker;
  }

  /** A child spec whose start() creates a fake worker (asynchronously, like a real one). */
  spec(
    id: string,
    restart: RestartType = 'permanent',
    options: FakeWorkerOptions & { shutdown?: number; syncStart?: boolean } = {},
  ): ChildSpec {
    return {
      id,
      type: 'worker',
      restart,
      shutdown: options.shutdown ?? 1_000,
      start: options.syncStart ? () => this.create(id, options) : async () => this.create(id, options),
    };
  }
}

/** Lets pending promise callbacks and immediate tasks run (a fixed number of turns). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
