/**
 * What the node-turn adapter's parts share: the engine, the configuration,
 * which mends are on, the running state and the relayed-bytes count.
 */
import type { Logger } from 'pino';
import type { EngineServer } from './node-turn-engine.js';
import type { NodeTurnDefect, RelayedBytesSink, TurnBackendConfig } from './turn-backend.js';

export class AdapterContext {
  readonly logger: Logger;
  readonly software: string;
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
    this.software = software;
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
