/**
 * Sizes of a bench run. The default fits about three minutes on a shared
 * 2-core machine; `--full` is the full size (18,000 idle
 * connections); `smoke` is the tiny run the test suite does.
 */
import type { Mode, TargetKind } from './protocols.js';

export type SuiteName = 'signaling' | 'storm' | 'fanout' | 'idle' | 'churn' | 'turn' | 'cluster' | 'soak';
export const SUITES: readonly SuiteName[] = ['signaling', 'storm', 'fanout', 'idle', 'churn', 'turn', 'cluster', 'soak'];
/**
 * What `npm run bench` runs without `--only`: the soak is long, it runs only when asked for; the
 * cluster suite needs redis-server and about 2½ minutes of its own (it would double the default
 * run's three minutes): `--only cluster`.
 */
export const DEFAULT_SUITES: readonly SuiteName[] = ['signaling', 'storm', 'fanout', 'idle', 'churn', 'turn'];

/**
 * The signaling profile (real use): many small rooms, each member sending a low steady rate,
 * and every few seconds a member of each room (re)joining its call with an ICE exchange
 * (an offer-sized SDP and trickled candidates to each peer, answered the same way). Open loop
 * at that load; the figure is delivered msgs per server CPU-second, ours / the bare relay.
 */
export interface SignalingConfig {
  rooms: number;
  /** Room sizes, cycled over the rooms (2–6 members). */
  roomSizes: number[];
  workers: number;
  /** Steady broadcasts per second of each member, cycled over the members (at most 40). */
  memberRates: number[];
  candidatesPerPeer: number;
  trickleMs: number;
  /** ms between two (re)joins in a room, drawn uniformly. */
  rejoinEveryMs: readonly [number, number];
  warmupMs: number;
  measureMs: number;
  /** Alternating per round: ours, then the baseline (the bare relay). */
  targets: TargetKind[];
}

/**
 * The reconnect storm: `clients` idle clients in rooms of `roomSize` all lose their sockets at
 * once and come back after a delay drawn from [0, jitterMs]; the figure is the time until every
 * one is back in its room, and the errors seen.
 */
export interface StormConfig {
  clients: number;
  roomSize: number;
  workers: number;
  /** Clients connected at once while filling up (per process). */
  concurrency: number;
  jitterMs: number;
  /** A failed reconnect is tried again after retryDelayMs, this many times at most. */
  retries: number;
  retryDelayMs: number;
  /** One attempt's handshake deadline, and the whole storm's. */
  timeoutMs: number;
  deadlineMs: number;
  targets: TargetKind[];
  /** The goal: this many clients back within goalS seconds. */
  goalClients: number;
  goalS: number;
}

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
  /**
   * Cycling before the measured window, not counted: a fresh server spends its first seconds
   * compiling its hot code (V8's optimizing compiler took 14 % of our server's CPU in a cold
   * 3 s run), which measures start-up rather than capacity. Both targets get the same.
   */
  warmupMs: number;
  durationMs: number;
  workers: number;
  targets: TargetKind[];
}

/** `bare`: bench/targets/bare-turn.ts, the least a Node TURN relay does (no auth, no checks). */
export type TurnTargetKind = 'ours' | 'coturn' | 'bare';

/** The UDP TURN load of a run (bench/suites/turn-load.ts). */
export interface TurnLoadConfig {
  /** TURN sessions (one UDP socket, so one 4-tuple, allocation and channel each), spread over the workers. */
  sessions: number;
  /** Client processes of the TURN load. */
  workers: number;
  /** Closed loop: ChannelData packets in flight per session. */
  window: number;
  /** ChannelData payload in bytes (a multiple of 4, at least 12). */
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
}

export interface TurnConfig extends TurnLoadConfig {
  /** Alternating per round; ours first, coturn the baseline, the bare Node relay for scale. */
  targets: TurnTargetKind[];
  /** TURN on every core: relay threads 1 vs 2 vs coturn, and signaling under TURN load. */
  cores: TurnCoresConfig;
}

/**
 * TURN on every core (issue 13): our UDP relay with `turnThreads` 1 and 2 and coturn, alternating
 * per round, under a closed-loop load from several client processes; then a light signaling load
 * (rooms × roomSize members at perMemberPerS msgs/s, a process of its own) while the same TURN load
 * runs, with `turnThreads` of `signaling.turnThreads`.
 */
export interface TurnCoresConfig extends TurnLoadConfig {
  /** 0: not run. */
  rounds: number;
  targets: ('threads1' | 'threads2' | 'coturn')[];
  /** coturn's `--relay-threads` (null: its default). */
  coturnRelayThreads: number | null;
  signaling: { rooms: number; roomSize: number; perMemberPerS: number; turnThreads: number[] };
}

/**
 * The cluster suite's targets: `plain` is ours without Redis (the fan-out suite's target), `one`
 * ours with `redisUrl` alone on its Redis (a one-node cluster), `two` two of ours on one Redis with
 * each room's members split between them.
 */
export type ClusterTargetKind = 'plain' | 'one' | 'two';

export interface ClusterConfig {
  /** Alternating per round; `one` is the baseline of the headline ratios. */
  targets: ClusterTargetKind[];
  /** Modes of the message load (its rooms, clients, steps and window are the fan-out suite's). */
  modes: Mode[];
  /**
   * Idle capacity of the cluster: the idle suite's sizes, connections in rooms of `roomSize`, each room
   * split over the servers; `targets` one run each, in this order (memory is not what a shared machine makes noisy).
   */
  capacity: Omit<IdleConfig, 'targets'> & { targets: ClusterTargetKind[] };
}

/** [low, high], drawn uniformly. */
export type Range = readonly [number, number];

/**
 * The load of the soak, generated by two processes: honest clients (which
 * must never be closed by a limit) and abusers (which must be), from
 * separate source addresses since the server's limits are per source IP.
 */
export interface SoakLoad {
  /**
   * Long calls: slots of `roomSize` seats (the sizes spread over the range),
   * each seat taken again by a new connection as soon as its member leaves,
   * so the population stays steady while connections turn over; a slot's
   * newcomers go to a new room every `steadyRoomS` (the old one empties as
   * its members leave).
   */
  steadyRooms: number;
  steadyRoomS: Range;
  /** Short calls: rooms of the low end of `roomSize` (+1) whose members come, talk briefly and all go; then a new room. */
  briefRooms: number;
  /** Members of a room. */
  roomSize: Range;
  /** Seconds a member of a steady / brief room stays. */
  steadyLifetimeS: Range;
  briefLifetimeS: Range;
  /** Messages per second each member sends (chosen once per member from this list; 0: only a ping every 20 s). */
  memberRates: number[];
  /** Candidates trickled after each offer or answer. */
  candidatesPerPeer: number;
  /** Honest usernames are drawn from this many (returning users). */
  usernames: number;
  /** TURN sessions held at once; each lives `turnLifetimeS`, then deallocates (or vanishes). */
  turnSessions: number;
  turnLifetimeS: Range;
  /** LIFETIME asked for in Allocate and Refresh; refreshed every third of it. */
  turnAllocationLifetimeS: number;
  /** ChannelData packets per second each way per session, and their payload. */
  turnPps: number;
  turnPayloadBytes: number;
  /** Share of TURN sessions that vanish without deallocating (the server expires them). */
  turnVanishShare: number;
  /** Abuse: idle TCP connections held open at once (never upgraded). */
  idleTcp: number;
  /** Abuse: sustained frames/s of the client over the rate limit (the default limit is 100/s). */
  floodPerSecond: number;
  /** Abuse: broadcast bytes/s pushed at the member that stopped reading, per sender (2 senders). */
  slowPushBytesPerS: number;
  /** Abuse: ms between wrong-password attempts (signaling), oversized frames, huge-`to` frames. */
  wrongPasswordEveryMs: number;
  oversizedEveryMs: number;
  hugeToEveryMs: number;
  /** Abuse: TURN Allocates with made-up usernames / wrong passwords, and minimal unauthenticated requests, per second. */
  turnMadeUpPerS: number;
  turnWrongPasswordPerS: number;
  turnMinimalPerS: number;
}

export interface SoakConfig {
  minutes: number;
  sampleMs: number;
  /** The first share of the run is warm-up: not used for the slopes. */
  warmupShare: number;
  /** After the load stops: wait at least this long, then until back at the idle baseline, at most settleMaxMs. */
  settleMs: number;
  settleMaxMs: number;
  /** Largest least-squares slope per minute after the warm-up that still counts as flat. */
  thresholds: { rssMiB: number; heapMiB: number; fds: number; timers: number };
  /** "Near the idle baseline" after the settle: this many fds / timers above it at most. */
  tolerance: { fds: number; timers: number };
  load: SoakLoad;
  /** With `--soak-heap-snapshots`: the folder for heap snapshots of the server (idle, end of warm-up, end of load, settled). */
  heapSnapshots: string | null;
}

export interface BenchConfig {
  preset: 'default' | 'full' | 'smoke' | 'profile';
  rounds: number;
  suites: SuiteName[];
  signaling: SignalingConfig;
  storm: StormConfig;
  fanout: FanoutConfig;
  idle: IdleConfig;
  churn: ChurnConfig;
  turn: TurnConfig;
  cluster: ClusterConfig;
  soak: SoakConfig;
  /** Where the JSON goes (null: nowhere). */
  out: string | null;
  /** Run ours (and the bare relay) under --cpu-prof (fan-out, churn, TURN) and print the top functions. */
  profile: { dir: string; top: number } | null;
  /** Progress lines go here (null: silent). */
  log: ((line: string) => void) | null;
  /** The whole run is abandoned past this. */
  deadlineMs: number;
}

/** The soak's mix, sized for 2 shared cores: about 45 members in rooms, 6 TURN sessions, one abuser of each kind at a time (~15% of a core for the server). */
const SOAK_LOAD: SoakLoad = {
  steadyRooms: 10,
  steadyRoomS: [120, 300],
  briefRooms: 4,
  roomSize: [2, 6],
  steadyLifetimeS: [20, 90],
  briefLifetimeS: [2, 8],
  memberRates: [0, 1, 1, 2, 5, 5, 10, 20],
  candidatesPerPeer: 8,
  usernames: 500,
  turnSessions: 6,
  turnLifetimeS: [15, 60],
  turnAllocationLifetimeS: 60,
  turnPps: 50,
  turnPayloadBytes: 160,
  turnVanishShare: 0.2,
  idleTcp: 20,
  floodPerSecond: 300,
  slowPushBytesPerS: 320 * 1024,
  wrongPasswordEveryMs: 500,
  oversizedEveryMs: 3_000,
  hugeToEveryMs: 200,
  turnMadeUpPerS: 4,
  turnWrongPasswordPerS: 2,
  turnMinimalPerS: 20,
};

const ALL_BROADCAST: TargetKind[] = ['ours', 'bare', 'y-webrtc'];
const ALL_UNICAST: TargetKind[] = ['ours', 'bare', 'peerjs'];

export function preset(name: BenchConfig['preset']): BenchConfig {
  const base: BenchConfig = {
    preset: name,
    rounds: 2,
    suites: [...DEFAULT_SUITES],
    signaling: {
      rooms: 120,
      roomSizes: [2, 3, 4, 5, 6],
      workers: 2,
      memberRates: [1, 2, 5, 10, 20, 40],
      candidatesPerPeer: 20,
      trickleMs: 10,
      rejoinEveryMs: [2_000, 6_000],
      warmupMs: 1_000,
      measureMs: 5_000,
      targets: ['ours', 'bare'],
    },
    storm: {
      clients: 5_000,
      roomSize: 4,
      workers: 2,
      concurrency: 100,
      jitterMs: 1_000,
      retries: 5,
      retryDelayMs: 250,
      timeoutMs: 10_000,
      deadlineMs: 30_000,
      targets: ['ours', 'bare'],
      goalClients: 10_000,
      goalS: 5,
    },
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
    churn: { loops: 16, rooms: 8, warmupMs: 2_000, durationMs: 3_000, workers: 2, targets: ['ours', 'bare', 'bare-protocol'] },
    turn: {
      sessions: 16,
      workers: 1,
      window: 8,
      payloadBytes: 200,
      warmupMs: 500,
      measureMs: 3_000,
      targets: ['ours', 'coturn', 'bare'],
      cores: {
        rounds: 3,
        sessions: 64,
        workers: 2,
        window: 8,
        payloadBytes: 200,
        warmupMs: 700,
        measureMs: 3_000,
        targets: ['threads1', 'threads2', 'coturn'],
        coturnRelayThreads: 2,
        signaling: { rooms: 50, roomSize: 2, perMemberPerS: 10, turnThreads: [0, 2] },
      },
    },
    cluster: {
      targets: ['plain', 'one', 'two'],
      modes: ['broadcast', 'unicast'],
      capacity: { connections: 2_000, roomSize: 4, perWorker: 4_500, concurrency: 100, warmup: 200, settleMs: 1_000, targets: ['one', 'two'] },
    },
    soak: {
      minutes: 20,
      sampleMs: 10_000,
      warmupShare: 0.2,
      settleMs: 15_000,
      settleMaxMs: 120_000,
      thresholds: { rssMiB: 1, heapMiB: 0.5, fds: 1, timers: 1 },
      tolerance: { fds: 4, timers: 4 },
      load: SOAK_LOAD,
      heapSnapshots: null,
    },
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
        signaling: { ...base.signaling, measureMs: 8_000 },
        storm: { ...base.storm, clients: 10_000 },
        fanout: { ...base.fanout, rooms: 20, clientsPerRoom: 6, steps: [2_000, 5_000, 10_000, 20_000, 40_000], warmupMs: 500, measureMs: 2_000 },
        idle: { ...base.idle, connections: 18_000, concurrency: 200 },
        churn: { ...base.churn, durationMs: 5_000 },
        turn: { ...base.turn, measureMs: 5_000, cores: { ...base.turn.cores, measureMs: 5_000 } },
        cluster: { ...base.cluster, capacity: { ...base.cluster.capacity, connections: 18_000, concurrency: 200 } },
        deadlineMs: 45 * 60_000,
      };
    case 'profile':
      return {
        ...base,
        rounds: 1,
        suites: ['fanout'],
        fanout: { ...base.fanout, steps: [10_000], measureMs: 3_000, targets: { broadcast: ['ours', 'bare'], unicast: [] } },
        churn: { ...base.churn, durationMs: 5_000 },
        // With --only cluster: the two-server cluster and the one-node cluster, broadcast, no capacity line.
        cluster: { ...base.cluster, targets: ['one', 'two'], modes: ['broadcast'], capacity: { ...base.cluster.capacity, targets: [] } },
      };
    case 'smoke':
      return {
        ...base,
        rounds: 1,
        signaling: { ...base.signaling, rooms: 4, warmupMs: 200, measureMs: 600, rejoinEveryMs: [200, 400], workers: 1 },
        storm: { ...base.storm, clients: 24, concurrency: 10, jitterMs: 200, deadlineMs: 15_000 },
        fanout: { ...base.fanout, rooms: 2, clientsPerRoom: 3, steps: [400], warmupMs: 100, measureMs: 300, window: 8 },
        idle: { ...base.idle, connections: 20, warmup: 4, concurrency: 10, settleMs: 100 },
        churn: { ...base.churn, loops: 2, rooms: 2, warmupMs: 100, durationMs: 300, workers: 1 },
        turn: {
          ...base.turn,
          sessions: 2,
          window: 2,
          warmupMs: 100,
          measureMs: 300,
          cores: { ...base.turn.cores, rounds: 1, sessions: 4, window: 2, warmupMs: 100, measureMs: 300, signaling: { ...base.turn.cores.signaling, rooms: 2 } },
        },
        cluster: { ...base.cluster, capacity: { ...base.cluster.capacity, connections: 24, warmup: 4, concurrency: 10, settleMs: 100 } },
        soak: {
          ...base.soak,
          minutes: 0.25,
          sampleMs: 2_000,
          settleMs: 1_000,
          settleMaxMs: 20_000,
          load: {
            ...SOAK_LOAD,
            steadyRooms: 2,
            briefRooms: 1,
            steadyRoomS: [5, 10],
            steadyLifetimeS: [3, 6],
            briefLifetimeS: [1, 2],
            turnSessions: 2,
            turnLifetimeS: [3, 6],
            turnAllocationLifetimeS: 6,
            turnVanishShare: 0,
            idleTcp: 4,
          },
        },
        log: null,
        deadlineMs: 3 * 60_000,
      };
  }
}
