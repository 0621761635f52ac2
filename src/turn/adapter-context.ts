/**
 * What the node-turn adapter's parts share: the engine, the configuration,
 * its limits, which mends are on, the running state, the live counts and the
 * relayed-bytes count.
 */
import type { Logger } from 'pino';
import { resolveLimits } from './limits.js';
import type { TurnLimits } from './limits.js';
import type { EngineServer } from './node-turn-engine.js';
import type { NodeTurnDefect, RelayedBytesSink, TurnBackendConfig, TurnEvents } from './turn-backend.js';

/**
 * Allocations, permissions and channels held, kept as they change (never
 * computed by iterating: stats() and the /metrics gauges read these). They
 * live in `cells` (indexes `LIVE_CELLS`): a relay thread passes a view on
 * memory it shares with the main thread, which reads them synchronously.
 */
export class LiveCounts {
  constructor(private readonly cells: Float64Array = new Float64Array(3)) {}

  /** Entries of node-turn's allocation table. */
  get allocations(): number {
    return this.cells[0]!;
  }

  set allocations(n: number) {
    this.cells[0] = n;
  }

  get permissions(): number {
    return this.cells[1]!;
  }

  set permissions(n: number) {
    this.cells[1] = n;
  }

  get channels(): number {
    return this.cells[2]!;
  }

  set channels(n: number) {
    this.cells[2] = n;
  }

  reset(): void {
    this.cells.fill(0, 0, 3);
  }
}

const NO_EVENTS: TurnEvents = { authFailed: () => {}, authThrottled: () => {}, refused: () => {} };

export class AdapterContext {
  readonly logger: Logger;
  readonly software: string;
  readonly limits: Readonly<TurnLimits>;
  readonly events: TurnEvents;
  readonly counts: LiveCounts;
  /** False before start() and once stop() has begun: late callbacks do nothing. */
  running = false;
  /** Payload bytes relayed, both directions (a plain number: the data path must not allocate). */
  relayedBytes = 0;
  private readonly unmended: ReadonlySet<NodeTurnDefect>;
  private readonly relayedSink: RelayedBytesSink | null;

  constructor(
    readonly config: TurnBackendConfig,
    readonly engine: EngineServer,
    software: string,
  ) {
    this.logger = config.logger;
    this.counts = new LiveCounts(config.liveCounts);
    this.software = software;
    this.limits = resolveLimits(config.limits);
    this.events = config.events ?? NO_EVENTS;
    this.unmended = config.unmended ?? new Set();
    this.relayedSink = config.relayed ?? null;
  }

  isMended(defect: NodeTurnDefect): boolean {
    return !this.unmended.has(defect);
  }

  /** Counts relayed payload bytes: a number added to, no allocation (runs per packet). */
  relayed(bytes: number): void {
    this.relayedBytes += bytes;
    this.relayedSink?.add(bytes);
  }

  /** Runs a node-turn reply (which throws if its socket has closed meanwhile). */
  safely(fn: () => void): void {
    if (!this.running) return;
    try {
      fn();
    } catch (err) {
      this.logger.debug({ err }, 'TURN reply not sent');
    }
  }
}
