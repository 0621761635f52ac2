/** The IPC vocabulary between the orchestrator and its load-generator processes. */
import type { SoakLoad } from '../lib/config.js';
import type { SparseHistogram } from '../lib/hist.js';
import type { Mode, TargetKind } from '../lib/protocols.js';

export interface TargetRef {
  kind: TargetKind;
  /** `ws://127.0.0.1:PORT` */
  base: string;
}

export type WorkerRequest =
  | {
      op: 'setup';
      target: TargetRef;
      mode: Mode;
      /**
       * `bases` (the cluster suite): client `idx` of the room connects to `bases[idx % bases.length]`
       * instead of `target.base`, so that one room's members are split over servers.
       */
      rooms: { name: string; k: number; bases?: string[] }[];
      clientPrefix: string;
      localAddresses: string[];
      timeoutMs: number;
    }
  /** Open loop: this worker sends `perSecond` messages a second, round-robin over its clients. */
  | { op: 'rate'; perSecond: number }
  /** Closed loop: `window` messages in flight per room, each replaced when all its recipients got it. */
  | { op: 'closed'; window: number }
  | { op: 'stop-load' }
  | { op: 'measure-start' }
  | { op: 'measure-stop' }
  | { op: 'teardown' }
  | {
      op: 'idle';
      target: TargetRef;
      /** Client `i` connects to `bases[i % bases.length]` instead of `target.base` (a room of 4 over 2 servers: 2 on each). */
      bases?: string[];
      count: number;
      roomSize: number;
      roomPrefix: string;
      clientPrefix: string;
      localAddresses: string[];
      concurrency: number;
      timeoutMs: number;
    }
  | {
      op: 'churn';
      target: TargetRef;
      loops: number;
      rooms: string[];
      durationMs: number;
      clientPrefix: string;
      localAddresses: string[];
    }
  | SignalingStartRequest
  /** Stops the signaling profile's sends (its clients stay connected until `teardown`). */
  | { op: 'sig-stop' }
  | StormRequest
  | TurnSetupRequest
  /** Closed loop over the TURN sessions: `window` packets in flight per session. */
  | { op: 'turn-load'; window: number }
  | { op: 'turn-stop-load' }
  | { op: 'turn-measure-start' }
  | { op: 'turn-measure-stop' }
  | SoakStartRequest
  /** The soak's counters so far (cumulative). */
  | { op: 'soak-stats' }
  /** Stops the soak's loops, closes (honest: leaves, deallocates) everything, returns the final counters. */
  | { op: 'soak-stop' };

/** Honest clients must never be closed by a limit; abusers must be. */
export type SoakRole = 'honest' | 'abuse';

export interface SoakServerRef {
  host: string;
  /** Signaling (WebSocket) port. */
  port: number;
  /** STUN/TURN UDP port. */
  turnPort: number;
}

/** Starts this process's share of the soak in the background; answers at once. */
export interface SoakStartRequest {
  op: 'soak-start';
  role: SoakRole;
  server: SoakServerRef;
  load: SoakLoad;
  /** Unique per run: room names and usernames carry it. */
  runId: string;
  /** The loops stop by themselves this long after the start, whatever the orchestrator does. */
  stopAfterMs: number;
}

export interface SoakWorkerStats {
  role: SoakRole;
  /** Cumulative counters by name: what was done and what came back (`honest.sent`, `flood.closed.1008`…). */
  counts: Record<string, number>;
  /** What is open right now (`members`, `turnSessions`, `idleTcp`…). */
  live: Record<string, number>;
  /** Honest clients: every close by the server, refusal, unexpected answer or TURN error (never expected). */
  errors: number;
  errorKinds: Record<string, number>;
  /** The first few errors, spelled out. */
  firstErrors: string[];
  /** Seconds from an abuse episode's start to the close or eviction it was after, by kind. */
  durations: Record<string, { n: number; sumS: number; maxS: number }>;
  /** Honest in-room messages: send → receive latency. */
  latency: { hist: SparseHistogram; maxUs: number };
  /** Honest TURN: ChannelData round trip client → relay → peer → relay → client. */
  turnRtt: { hist: SparseHistogram; maxUs: number };
}

/**
 * Starts the signaling profile's sends over the clients of `setup`, until `sig-stop`: each member broadcasts at its steady
 * rate (`memberRates[i % length]` msgs/s for the i-th member of this process), and each room
 * has a member (re)join its call every `rejoinEveryMs` (drawn uniformly): the joiner sends an
 * offer-sized SDP then `candidatesPerPeer` candidates, one every `trickleMs`, to each peer, and
 * each peer answers the same way (all unicast).
 */
export interface SignalingStartRequest {
  op: 'sig-start';
  memberRates: number[];
  candidatesPerPeer: number;
  trickleMs: number;
  rejoinEveryMs: readonly [number, number];
}

/**
 * The reconnect storm: at `dropAtUs` (nowUs(): the machine's monotonic clock, the same for every process) every idle client
 * (from the `idle` op) has its socket destroyed; each reconnects to its room after a delay
 * drawn uniformly from [0, jitterMs], retrying a failed attempt up to `retries` times after
 * `retryDelayMs`; whatever is not back `deadlineMs` after the drop counts as not back.
 */
export interface StormRequest {
  op: 'storm';
  dropAtUs: number;
  jitterMs: number;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  deadlineMs: number;
}

export interface StormResult {
  clients: number;
  back: number;
  notBack: number;
  /** Failed attempts (each retried while retries and time were left). */
  errors: number;
  firstError: string | null;
  /** When this process dropped its clients, and when its last one was back (nowUs()). */
  droppedAtUs: number;
  lastBackUs: number | null;
  /** Per client: from the drop to back in its room, and from its reconnect attempt to back (µs). */
  backHist: SparseHistogram;
  backMaxUs: number;
  attemptHist: SparseHistogram;
  attemptMaxUs: number;
}

/** Opens `sessions` TURN sessions (allocation + a channel bound to the echo peer). */
export interface TurnSetupRequest {
  op: 'turn-setup';
  server: { host: string; port: number };
  peer: { host: string; port: number };
  user: string;
  password: string;
  sessions: number;
  /** Channel numbers start at 0x4000 + this (unique per process, for readable server logs). */
  firstIndex: number;
  /** ChannelData payload, bytes (a multiple of 4, at least 8: it carries the send time). */
  payloadBytes: number;
  timeoutMs: number;
}

export interface TurnSetupResult {
  sessions: number;
  failed: number;
  firstError: string | null;
  /** XOR-RELAYED-ADDRESS of each session. */
  relayed: string[];
}

export interface TurnLoadStats {
  windowMs: number;
  /** ChannelData packets sent to the server. */
  sent: number;
  /** ChannelData packets back from the server (each relayed twice: to the peer and back). */
  received: number;
  /** Packets in flight written off after 300 ms without progress on their session. */
  lost: number;
  /** Data indications received (the server did not use the bound channel). */
  indications: number;
  sendErrors: number;
  hist: SparseHistogram;
  maxUs: number;
}

export type Envelope = WorkerRequest & { id: number };

export interface LoadStats {
  windowMs: number;
  sent: number;
  delivered: number;
  /** Frames a sender got back of its own message (y-webrtc echoes a publish to its publisher). */
  selfEcho: number;
  /** Sends skipped because the client's socket buffer was over the limit. */
  skipped: number;
  /** Open-loop sends dropped because the generator fell more than 200 ms behind its schedule. */
  lagged: number;
  /** Closed-loop messages not delivered to all recipients within 2 s. */
  lost: number;
  hist: SparseHistogram;
  maxUs: number;
}

export interface IdleResult {
  connected: number;
  failed: number;
  ms: number;
  firstError: string | null;
}

export interface ChurnResult {
  cycles: number;
  errors: number;
  ms: number;
  hist: SparseHistogram;
  maxUs: number;
  firstError: string | null;
}

export type WorkerReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: string };
