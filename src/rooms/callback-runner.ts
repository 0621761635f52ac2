/**
 * Runs the `create` / `join` / `leave` callbacks. Calls for one room run one
 * after the other, each awaited, in the order the room actor asked for them;
 * rooms never wait for each other, and nothing waits for a callback on the
 * message path. A throw, a rejection or a callback still pending after
 * `timeoutMs` is logged and contained: the next callback of the room runs.
 *
 * Bounded: a room holds at most `maxQueuedPerRoom` calls not yet started
 * (behind one that is pending), and all rooms together at most
 * `maxQueuedTotal` calls pending or queued. A call beyond either bound is
 * dropped: counted (`onDrop`, `dropped`) and logged at warn, at most one line
 * per `DROP_LOG_INTERVAL_MS` saying how many were dropped and where.
 */
import type { Logger } from 'pino';
import type { Callbacks, CallbacksOption, LifecycleCallback } from '../options.js';
import { ErrorCode, ServerError } from '../errors.js';
import { loadModule } from '../module-loader.js';

export type CallbackKind = 'create' | 'join' | 'leave';
export const CALLBACK_TIMEOUT_MS = 30_000;
/** Calls of one room waiting behind a pending one. */
export const MAX_QUEUED_PER_ROOM = 256;
/** Calls pending or queued in all rooms: a create, a join and a leave for each of 20 000 connections, with room to spare. */
export const MAX_QUEUED_TOTAL = 65_536;
/** At most one "callbacks dropped" line per this many ms (the count of the rest follows in the next one). */
export const DROP_LOG_INTERVAL_MS = 10_000;
/** Room names listed in one "callbacks dropped" line. */
const DROP_LOG_ROOMS = 8;

export type DropReason = 'room_queue_full' | 'total_queue_full';

export interface CallbackRunnerOptions {
  /** ms a callback may stay pending before the room moves on (default 30 000). */
  timeoutMs?: number;
  /** Calls of one room waiting behind a pending one; more are dropped (default 256). */
  maxQueuedPerRoom?: number;
  /** Calls pending or waiting in all rooms; more are dropped (default 65 536). */
  maxQueuedTotal?: number;
  /** Told of each failure (metrics). */
  onError?: () => void;
  /** Told of each dropped call (metrics). */
  onDrop?: (reason: DropReason) => void;
}

interface Call {
  fn: LifecycleCallback;
  kind: CallbackKind;
  room: string;
  username: string;
  others: string[];
}

/** A room with a call pending: the calls waiting behind it, and when it all ends. */
interface RoomQueue {
  readonly waiting: Call[];
  readonly done: Promise<void>;
  finish(): void;
}

export class CallbackRunner {
  private readonly rooms = new Map<string, RoomQueue>();
  /** Calls pending (started, not settled) or waiting, in all rooms. */
  private inFlight = 0;
  private readonly timeoutMs: number;
  private readonly maxQueuedPerRoom: number;
  private readonly maxQueuedTotal: number;
  private readonly onError: () => void;
  private readonly onDrop: (reason: DropReason) => void;
  /** Drops not logged yet, and a few of their rooms. */
  private unlogged: Record<DropReason, number> = { room_queue_full: 0, total_queue_full: 0 };
  private readonly unloggedRooms = new Set<string>();
  private lastDropLog = -Infinity;
  private dropLogTimer: NodeJS.Timeout | null = null;
  /** Callback errors seen so far (for metrics and tests). */
  errors = 0;
  /** Calls dropped so far (for metrics and tests). */
  dropped = 0;

  constructor(
    private readonly callbacks: Callbacks,
    private readonly logger: Logger,
    options: CallbackRunnerOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? CALLBACK_TIMEOUT_MS;
    this.maxQueuedPerRoom = options.maxQueuedPerRoom ?? MAX_QUEUED_PER_ROOM;
    this.maxQueuedTotal = options.maxQueuedTotal ?? MAX_QUEUED_TOTAL;
    this.onError = options.onError ?? (() => {});
    this.onDrop = options.onDrop ?? (() => {});
  }

  run(kind: CallbackKind, room: string, username: string, others: string[]): void {
    const fn = this.callbacks[kind];
    if (!fn) return;
    const call: Call = { fn, kind, room, username, others };
    const queue = this.rooms.get(room);
    if (queue) {
      if (queue.waiting.length >= this.maxQueuedPerRoom) return this.drop(call, 'room_queue_full');
      if (this.inFlight >= this.maxQueuedTotal) return this.drop(call, 'total_queue_full');
      queue.waiting.push(call);
      this.inFlight++;
      return;
    }
    if (this.inFlight >= this.maxQueuedTotal) return this.drop(call, 'total_queue_full');
    const pending = this.call(call);
    if (pending === undefined) return; // ran synchronously, nothing queued
    this.inFlight++;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const started: RoomQueue = { waiting: [], done, finish };
    this.rooms.set(room, started);
    void pending.then(() => this.next(room, started));
  }

  /** Calls waiting (not started) in `room`. */
  waiting(room: string): number {
    return this.rooms.get(room)?.waiting.length ?? 0;
  }

  /** Calls pending or waiting in all rooms. */
  get size(): number {
    return this.inFlight;
  }

  /** Resolves when every queued callback has settled. */
  async drain(): Promise<void> {
    while (this.rooms.size > 0) await Promise.all([...this.rooms.values()].map((q) => q.done));
    this.logDrops();
  }

  /** The pending call of `queue` settled: start the next ones until one is pending, or end the queue. */
  private next(room: string, queue: RoomQueue): void {
    this.inFlight--;
    for (let call = queue.waiting.shift(); call !== undefined; call = queue.waiting.shift()) {
      const pending = this.call(call);
      if (pending !== undefined) {
        void pending.then(() => this.next(room, queue));
        return;
      }
      this.inFlight--;
    }
    this.rooms.delete(room);
    queue.finish();
  }

  /** Calls `fn`; returns a promise only if it returned one. Never throws or rejects. */
  private call({ fn, kind, room, username, others }: Call): Promise<void> | undefined {
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

  private drop(call: Call, reason: DropReason): void {
    this.dropped++;
    this.onDrop(reason);
    this.unlogged[reason]++;
    if (this.unloggedRooms.size < DROP_LOG_ROOMS) this.unloggedRooms.add(call.room);
    const wait = this.lastDropLog + DROP_LOG_INTERVAL_MS - performance.now();
    if (wait <= 0) return this.logDrops();
    if (this.dropLogTimer) return;
    this.dropLogTimer = setTimeout(() => this.logDrops(), wait);
    this.dropLogTimer.unref();
  }

  /** One warn line for every drop not logged yet. */
  private logDrops(): void {
    if (this.dropLogTimer) clearTimeout(this.dropLogTimer);
    this.dropLogTimer = null;
    const { room_queue_full: roomFull, total_queue_full: totalFull } = this.unlogged;
    if (roomFull + totalFull === 0) return;
    this.logger.warn(
      {
        dropped: roomFull + totalFull,
        roomQueueFull: roomFull,
        totalQueueFull: totalFull,
        rooms: [...this.unloggedRooms],
        maxQueuedPerRoom: this.maxQueuedPerRoom,
        maxQueuedTotal: this.maxQueuedTotal,
      },
      `${roomFull + totalFull} create/join/leave callbacks dropped: too many queued behind pending ones`,
    );
    this.unlogged = { room_queue_full: 0, total_queue_full: 0 };
    this.unloggedRooms.clear();
    this.lastDropLog = performance.now();
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
