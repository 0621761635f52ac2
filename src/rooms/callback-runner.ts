/**
 * Runs the `create` / `join` / `leave` callbacks. Calls for one room run one
 * after the other, each awaited, in the order the room actor asked for them;
 * rooms never wait for each other, and nothing waits for a callback on the
 * message path. A throw, a rejection or a callback still pending after
 * `timeoutMs` is logged and contained: the next callback of the room runs.
 */
import type { Logger } from 'pino';
import type { Callbacks, CallbacksOption, LifecycleCallback } from '../options.js';
import { ErrorCode, ServerError } from '../errors.js';
import { loadModule } from '../module-loader.js';

export type CallbackKind = 'create' | 'join' | 'leave';
export const CALLBACK_TIMEOUT_MS = 30_000;

export class CallbackRunner {
  /** The last queued call of each room that has one running. */
  private readonly tails = new Map<string, Promise<void>>();
  /** Callback errors seen so far (for metrics and tests). */
  errors = 0;

  constructor(
    private readonly callbacks: Callbacks,
    private readonly logger: Logger,
    private readonly timeoutMs = CALLBACK_TIMEOUT_MS,
    /** Told of each failure (metrics). */
    private readonly onError: () => void = () => {},
  ) {}

  run(kind: CallbackKind, room: string, username: string, others: string[]): void {
    const fn = this.callbacks[kind];
    if (!fn) return;
    const previous = this.tails.get(room);
    const tail = previous
      ? previous.then(() => this.call(fn, kind, room, username, others))
      : this.call(fn, kind, room, username, others);
    if (tail === undefined) return; // ran synchronously, nothing queued
    this.tails.set(room, tail);
    void tail.then(() => {
      if (this.tails.get(room) === tail) this.tails.delete(room);
    });
  }

  /** Resolves when every queued callback has settled. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** Calls `fn`; returns a promise only if it returned one. Never throws or rejects. */
  private call(fn: LifecycleCallback, kind: CallbackKind, room: string, username: string, others: string[]): Promise<void> | undefined {
    let result: unknown;
    try {
      result = fn(room, username, others);
    } catch (err) {
      this.failed(err, kind, room, username);
      return undefined;
    }
    if (!isThenable(result)) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.failed(new Error(`still pending after ${this.timeoutMs} ms`), kind, room, username);
        resolve();
      }, this.timeoutMs);
      timer.unref();
      result.then(
        () => { clearTimeout(timer); resolve(); },
        (err: unknown) => { clearTimeout(timer); this.failed(err, kind, room, username); resolve(); },
      );
    });
  }

  private failed(err: unknown, kind: CallbackKind, room: string, username: string): void {
    this.errors++;
    this.onError();
    this.logger.error({ err, callback: kind, room, username }, `${kind} callback failed`);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Turns the `callbacks` option into functions, loading a module if one is named. */
export async function loadCallbacks(option: CallbacksOption | null, baseDir: string): Promise<Callbacks> {
  if (option === null) return {};
  if (!('module' in option)) return option as Callbacks;
  const mod = await loadModule(option.module, baseDir, 'callbacks');
  const source = (mod.create ?? mod.join ?? mod.leave) === undefined && typeof mod.default === 'object' && mod.default !== null
    ? (mod.default as Record<string, unknown>)
    : mod;
  const callbacks: Callbacks = {};
  for (const kind of ['create', 'join', 'leave'] as const) {
    const fn = source[kind];
    if (fn === undefined) continue;
    if (typeof fn !== 'function') {
      throw new ServerError(ErrorCode.CALLBACKS_MODULE, `invalid option "callbacks": export "${kind}" of ${option.module} is not a function`, { option: 'callbacks' });
    }
    callbacks[kind] = fn as LifecycleCallback;
  }
  return callbacks;
}
