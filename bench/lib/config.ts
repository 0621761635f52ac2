/**
 * Sizes of a bench run. The default fits about three minutes on a shared
 * 2-core machine; `--full` is the full size (18,000 idle
 * connections); `smoke` is the tiny run the test suite does.
 */
import type { Mode, TargetKind } from './protocols.js';

export type SuiteName = 'fanout' | 'idle' | 'churn' | 'turn';
export const SUITES: readonly SuiteName[] = ['fanout', 'idle', 'churn', 'turn'];

export interface FanoutConfig {
  rooms: number;
  clientsPerRoom: number;
  workers: number;
  /** Open-loop steps, in delivered messages per second (the sent rate is this over the recipients per message). */
  steps: number[];
  warmupMs: number;
  measureMs: number;
  /**
   * Closed-loop "max" step: deliveries in flight per room (0 skips the step). A broadcast
   * message counts for its K−1 recipients, so unicast gets K−1 times as many messages in
   * flight and both modes keep the same amount of work queued.
   */
  window: number;
  /** Targets per mode; the first is ours, the second the bare-relay baseline, then competitors. */
  targets: Record<Mode, TargetKind[]>;
}

export interface IdleConfig {
  connections: number;
  roomSize: number;
  /** Connections per load-generator process (each process has its own open-file limit). */
  perWorker: number;
  concurrency: number;
  warmup: number;
  settleMs: number;
  targets: TargetKind[];
}

export interface ChurnConfig {
  loops: number;
  rooms: number;
  durationMs: number;
  workers: number;
  targets: TargetKind[];
}

/** `bare`: bench/targets/bare-turn.ts, the least a Node TURN relay does (no auth, no checks). */
export type TurnTargetKind = 'ours' | 'coturn' | 'bare';

export interface TurnConfig {
  /** TURN sessions (one UDP socket, allocation and channel each), spread over the workers. */
  sessions: number;
  workers: number;
  /** Closed loop: ChannelData packets in flight per session. */
  window: number;
  /** ChannelData payload in bytes (a multiple of 4, at least 12). */
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
  /** Alternating per round; ours first, coturn the baseline, the bare Node relay for scale. */
  targets: TurnTargetKind[];
}

export interface BenchConfig {
  preset: 'default' | 'full' | 'smoke' | 'profile';
  rounds: number;
  suites: SuiteName[];
  fanout: FanoutConfig;
  idle: IdleConfig;
  churn: ChurnConfig;
  turn: TurnConfig;
  /** Where the JSON goes (null: nowhere). */
  out: string | null;
  /** Run ours (and the bare relay) under --cpu-prof (fan-out, churn, TURN) and print the top functions. */
  profile: { dir: string; top: number } | null;
  /** Progress lines go here (null: silent). */
  log: ((line: string) => void) | null;
  /** The whole run is abandoned past this. */
  deadlineMs: number;
}

const ALL_BROADCAST: TargetKind[] = ['ours', 'bare', 'y-webrtc'];
const ALL_UNICAST: TargetKind[] = ['ours', 'bare', 'peerjs'];

export function preset(name: BenchConfig['preset']): BenchConfig {
  const base: BenchConfig = {
    preset: name,
    rounds: 2,
    suites: ['fanout', 'idle', 'churn', 'turn'],
    fanout: {
      rooms: 4,
      clientsPerRoom: 5,
      workers: 2,
      steps: [2_000, 5_000, 10_000, 20_000],
      warmupMs: 300,
      measureMs: 1_000,
      window: 64,
      targets: { broadcast: ALL_BROADCAST, unicast: ALL_UNICAST },
    },
    idle: { connections: 2_000, roomSize: 4, perWorker: 4_500, concurrency: 100, warmup: 200, settleMs: 1_000, targets: ['ours', 'bare'] },
    churn: { loops: 16, rooms: 8, durationMs: 3_000, workers: 2, targets: ['ours', 'bare'] },
    turn: { sessions: 16, workers: 1, window: 8, payloadBytes: 200, warmupMs: 500, measureMs: 3_000, targets: ['ours', 'coturn', 'bare'] },
    out: null,
    profile: null,
    log: (line) => process.stderr.write(`${line}\n`),
    deadlineMs: 15 * 60_000,
  };
  switch (name) {
    case 'default':
      return base;
    case 'full':
      return {
        ...base,
        rounds: 3,
        fanout: { ...base.fanout, rooms: 20, clientsPerRoom: 6, steps: [2_000, 5_000, 10_000, 20_000, 40_000], warmupMs: 500, measureMs: 2_000 },
        idle: { ...base.idle, connections: 18_000, concurrency: 200 },
        churn: { ...base.churn, durationMs: 5_000 },
        turn: { ...base.turn, measureMs: 5_000 },
        deadlineMs: 45 * 60_000,
      };
    case 'profile':
      return {
        ...base,
        rounds: 1,
        suites: ['fanout'],
        fanout: { ...base.fanout, steps: [10_000], measureMs: 3_000, targets: { broadcast: ['ours', 'bare'], unicast: [] } },
        churn: { ...base.churn, durationMs: 5_000 },
      };
    case 'smoke':
      return {
        ...base,
        rounds: 1,
        fanout: { ...base.fanout, rooms: 2, clientsPerRoom: 3, steps: [400], warmupMs: 100, measureMs: 300, window: 8 },
        idle: { ...base.idle, connections: 20, warmup: 4, concurrency: 10, settleMs: 100 },
        churn: { ...base.churn, loops: 2, rooms: 2, durationMs: 300, workers: 1 },
        turn: { ...base.turn, sessions: 2, window: 2, warmupMs: 100, measureMs: 300 },
        log: null,
        deadlineMs: 3 * 60_000,
      };
  }
}
