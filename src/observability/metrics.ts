/**
 * Prometheus metrics of one server (prom-client), in a registry of its own so
 * that several servers in one process never mix their figures. Counters are
 * updated live by the parts that count (pre-bound label children on the
 * message path); gauges are read from the live tree when scraped.
 */
import { readdir } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** Why a client frame was not forwarded. */
export type DropReason =
  | 'invalid_json'
  | 'invalid_to'
  | 'unknown_peer'
  | 'already_authenticated'
  | 'unauthenticated'
  | 'binary'
  | 'too_big'
  | 'slow_consumer';

/** Where the scrape-time gauges read from (set once the tree is built). */
export interface GaugeSources {
  connectionsByState(): Record<string, number>;
  rooms(): { rooms: number; members: number };
  turn(): { allocations: number; permissions: number; channels: number } | null;
  /** With `redisUrl`: 1 while the cluster's Redis is reachable and the roster agrees with it, else 0; null without a cluster. */
  clusterUp(): number | null;
}

const CONNECTION_STATES = ['unauthenticated', 'authenticated', 'inRoom'] as const;

const DEFAULT_PREFIX = 'webrtc_server_';
/** prom-client default metrics that walk every handle or file descriptor when scraped. */
const WALKING_DEFAULT_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
] as const;

/**
 * The process's open file descriptors, counted by listing /proc/self/fd in
 * libuv's thread pool (not on the event loop), at most once per `maxAgeMs`
 * however many scrapers ask; NaN where /proc is not available.
 */
class OpenFds {
  private value = Number.NaN;
  private readAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<number> | null = null;

  constructor(private readonly maxAgeMs = 10_000) {}

  read(): Promise<number> {
    if (performance.now() - this.readAt < this.maxAgeMs) return Promise.resolve(this.value);
    this.pending ??= readdir('/proc/self/fd').then(
      (entries) => entries.length,
      () => Number.NaN,
    ).then((n) => {
      this.value = n;
      this.readAt = performance.now();
      this.pending = null;
      return n;
    });
    return this.pending;
  }
}
/** One per process: the descriptors are the process's, whichever server is scraped. */
const openFds = new OpenFds();

export type AuthTransport = 'signaling' | 'turn';
const AUTH_TRANSPORTS: readonly AuthTransport[] = ['signaling', 'turn'];

/** Why a signaling connection was refused before its WebSocket opened. */
export type RefusalReason = 'per_ip' | 'total' | 'origin' | 'handshake_timeout' | 'draining';
const REFUSAL_REASONS: readonly RefusalReason[] = ['per_ip', 'total', 'origin', 'handshake_timeout', 'draining'];

/**
 * Why TURN refused a request (src/turn/turn-backend.ts `TurnRefusal`): the
 * permission cap, too many peers in one CreatePermission, an oversized
 * message, no credential lookup slot, a lookup past its deadline, a source
 * over its budget of 401/438 answers; for TURN over TCP/TLS, a stream over
 * its caps, one that cannot be framed, one timed out, data dropped for a
 * slow reader.
 */
export type TurnRefusalReason =
  | 'permission_quota' | 'too_many_peers' | 'too_large' | 'lookup_busy' | 'lookup_timeout' | 'challenge_rate'
  | 'stream_limit' | 'stream_invalid' | 'stream_timeout' | 'stream_backlog';
const TURN_REFUSAL_REASONS: readonly TurnRefusalReason[] = [
  'permission_quota', 'too_many_peers', 'too_large', 'lookup_busy', 'lookup_timeout', 'challenge_rate',
  'stream_limit', 'stream_invalid', 'stream_timeout', 'stream_backlog',
];

/**
 * Bytes relayed by TURN, as the data path counts them: one number added to
 * per datagram (no labels to hash, nothing allocated). The Prometheus
 * counter catches up with it when scraped. One per server, so the total
 * survives a restart of the TURN listener.
 */
/** What the relay-thread metrics read (relay-hub.ts). */
export interface RelayThreadsSource {
  forwardedDatagrams(): number;
  allocationsByThread(): [number, number][];
}

export class ByteTally {
  private own = 0;
  private readonly sources: (() => number)[] = [];

  add(bytes: number): void {
    this.own += bytes;
  }

  /** Also counts what `source` reads (TURN relay threads count in shared memory). */
  addSource(source: () => number): void {
    this.sources.push(source);
  }

  get total(): number {
    let total = this.own;
    for (const source of this.sources) total += source();
    return total;
  }
}

/**
 * A count kept on the message path as one number (no labels to hash, no
 * prom-client call per message); its Prometheus counter catches up with it
 * when scraped.
 */
export class CountTally {
  total = 0;

  inc(): void {
    this.total++;
  }
}

/** What the process guards (`src/process-guard.ts`) count. */
export type ProcessErrorKind = 'unhandled_rejection' | 'uncaught_exception';
const PROCESS_ERROR_KINDS: readonly ProcessErrorKind[] = ['unhandled_rejection', 'uncaught_exception'];

/**
 * Uncaught errors of the whole process, as the process guards count them.
 * Process-wide (like the `webrtc_server_*` process metrics): every server's
 * `/metrics` catches up with it when scraped.
 */
export class ProcessErrorTally {
  readonly counts: Record<ProcessErrorKind, number> = { unhandled_rejection: 0, uncaught_exception: 0 };

  add(kind: ProcessErrorKind): void {
    this.counts[kind]++;
  }
}

/** The one tally of this process. */
export const PROCESS_ERRORS = new ProcessErrorTally();

export class Metrics {
  readonly registry = new Registry();
  private sources: GaugeSources | null = null;
  readonly clusterReaped: Counter;
  readonly clusterResyncs: Counter;

  /** Messages forwarded, by path: tallies the scrape turns into `webrtc_messages_forwarded_total`. */
  readonly forwardedBroadcast = new CountTally();
  readonly forwardedUnicast = new CountTally();
  readonly published = new CountTally();
  private readonly dropped: Counter<'reason'>;
  private readonly droppedBy = new Map<DropReason, Counter.Internal>();
  private readonly authFailures: Counter<'transport'>;
  private readonly authThrottles: Counter<'transport' | 'scope'>;
  private readonly refusals: Counter<'reason'>;
  private readonly rateLimits: Counter<'action'>;
  /** Lifecycle callbacks not run because their room's queue was full. */
  readonly callbacksDropped: Counter;
  readonly callbackErrors: Counter;
  readonly kicks: Counter;
  private readonly restarts: Counter<'supervisor' | 'child'>;
  readonly turnBytesRelayed: Counter;
  /** What TURN's data path adds relayed payload bytes to (both directions). */
  readonly turnRelayed = new ByteTally();
  /** TURN refusals, one pre-bound child per reason. */
  private readonly turnRefusedBy = new Map<TurnRefusalReason, Counter.Internal>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: DEFAULT_PREFIX });
    // A scrape must cost the same whatever the number of sockets: these walk every handle or fd, on the
    // event loop (50 ms a scrape at 20,000 sockets). The connection gauges below say the same for free.
    for (const name of WALKING_DEFAULT_METRICS) this.registry.removeSingleMetric(`${DEFAULT_PREFIX}${name}`);
    new Gauge({
      name: `${DEFAULT_PREFIX}process_open_fds`,
      help: 'Number of open file descriptors (read off the event loop, at most every 10 s).',
      registers,
      async collect() {
        this.set(await openFds.read());
      },
    });
    const paths = { broadcast: this.forwardedBroadcast, unicast: this.forwardedUnicast, publish: this.published };
    const counted = { broadcast: 0, unicast: 0, publish: 0 };
    const forwarded = new Counter({
      name: 'webrtc_messages_forwarded_total',
      help: 'Client messages forwarded to other peers, by path (one per message, not per recipient)',
      labelNames: ['path'] as const,
      registers,
      collect() {
        for (const path of ['broadcast', 'unicast', 'publish'] as const) {
          const total = paths[path].total;
          if (total > counted[path]) this.inc({ path }, total - counted[path]);
          counted[path] = total;
        }
      },
    });
    for (const path of ['broadcast', 'unicast', 'publish']) forwarded.inc({ path }, 0); // series exist from the start
    this.dropped = new Counter({
      name: 'webrtc_messages_dropped_total',
      help: 'Client frames not forwarded, by reason',
      labelNames: ['reason'] as const,
      registers,
    });
    this.authFailures = new Counter({
      name: 'webrtc_auth_failures_total',
      help: 'Failed authentication attempts (wrong password, unknown user, auth backend error), by transport',
      labelNames: ['transport'] as const,
      registers,
    });
    this.authThrottles = new Counter({
      name: 'webrtc_auth_throttled_total',
      help: 'Authentication attempts refused unchecked because their source IP or username failed too often',
      labelNames: ['transport', 'scope'] as const,
      registers,
    });
    for (const transport of AUTH_TRANSPORTS) {
      this.authFailures.inc({ transport }, 0);
      for (const scope of ['ip', 'username']) this.authThrottles.inc({ transport, scope }, 0);
    }
    this.refusals = new Counter({
      name: 'webrtc_connections_refused_total',
      help: 'Signaling connections refused before the WebSocket opened, by reason',
      labelNames: ['reason'] as const,
      registers,
    });
    for (const reason of REFUSAL_REASONS) this.refusals.inc({ reason }, 0);
    this.rateLimits = new Counter({
      name: 'webrtc_rate_limited_total',
      help: 'Sockets over rateLimit: "throttled" each time reading paused, "closed" after abuseSeconds over it',
      labelNames: ['action'] as const,
      registers,
    });
    for (const action of ['throttled', 'closed']) this.rateLimits.inc({ action }, 0);

    // --- TURN refusals (the TURN adapter's limits, src/turn/limits.ts)
    const turnRefusals = new Counter({
      name: 'webrtc_turn_refused_total',
      help: 'TURN requests refused or dropped by a limit, by reason',
      labelNames: ['reason'] as const,
      registers,
    });
    for (const reason of TURN_REFUSAL_REASONS) this.turnRefusedBy.set(reason, turnRefusals.labels(reason));
    for (const child of this.turnRefusedBy.values()) child.inc(0); // series exist from the start

    this.callbacksDropped = new Counter({
      name: 'webrtc_callbacks_dropped_total',
      help: 'create/join/leave callbacks not run because too many were queued for their room',
      registers,
    });
    this.callbackErrors = new Counter({ name: 'webrtc_callback_errors_total', help: 'create/join/leave callbacks that threw, rejected or timed out', registers });
    this.kicks = new Counter({ name: 'webrtc_kicks_total', help: 'Peers kicked through the admin API', registers });
    this.restarts = new Counter({
      name: 'webrtc_supervisor_restarts_total',
      help: 'Children restarted by their supervisor',
      labelNames: ['supervisor', 'child'] as const,
      registers,
    });
    const tally = this.turnRelayed;
    let flushed = 0;
    this.turnBytesRelayed = new Counter({
      name: 'webrtc_turn_relayed_bytes_total',
      help: 'Payload bytes relayed by TURN, both directions (client to peer and peer to client)',
      registers,
      collect() {
        if (tally.total > flushed) {
          this.inc(tally.total - flushed);
          flushed = tally.total;
        }
      },
    });

    // Process guards: uncaught errors of the whole process (see ProcessErrorTally).
    const processFlushed: Record<ProcessErrorKind, number> = { unhandled_rejection: 0, uncaught_exception: 0 };
    new Counter({
      name: 'webrtc_process_errors_total',
      help: 'Unhandled rejections and uncaught exceptions contained by the process guards (daemon, or an embedder that installed them), by kind',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        for (const kind of PROCESS_ERROR_KINDS) {
          const total = PROCESS_ERRORS.counts[kind];
          this.inc({ kind }, total - processFlushed[kind]);
          processFlushed[kind] = total;
        }
      },
    });

    const sources = () => this.sources;
    new Gauge({
      name: 'webrtc_connections',
      help: 'Open signaling connections, by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const counts = sources()?.connectionsByState() ?? {};
        for (const state of CONNECTION_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'webrtc_rooms',
      help: 'Rooms with at least one member',
      registers,
      collect() {
        this.set(sources()?.rooms().rooms ?? 0);
      },
    });
    new Gauge({
      name: 'webrtc_room_members',
      help: 'Members of all rooms',
      registers,
      collect() {
        this.set(sources()?.rooms().members ?? 0);
      },
    });
    new Gauge({
      name: 'webrtc_turn_allocations',
      help: 'TURN allocations, permissions and channels',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const turn = sources()?.turn() ?? { allocations: 0, permissions: 0, channels: 0 };
        this.set({ kind: 'allocations' }, turn.allocations);
        this.set({ kind: 'permissions' }, turn.permissions);
        this.set({ kind: 'channels' }, turn.channels);
      },
    });
    new Gauge({
      name: 'webrtc_cluster_up',
      help: 'With redisUrl: 1 while the cluster\'s Redis is reachable and this server agrees with it, else 0',
      registers,
      collect() {
        const up = sources()?.clusterUp() ?? null;
        if (up === null) this.reset();
        else this.set(up);
      },
    });
    this.clusterReaped = new Counter({ name: 'webrtc_cluster_reaped_members_total', help: 'Members of dead servers removed by this server', registers });
    this.clusterResyncs = new Counter({ name: 'webrtc_cluster_resyncs_total', help: 'Times this server made Redis agree with it and reloaded the membership', registers });
  }

  /** With relay threads (turnThreads > 0): `webrtc_turn_forwarded_datagrams_total` and `webrtc_turn_thread_allocations{thread}`. */
  watchRelayThreads(source: RelayThreadsSource): void {
    const registers = [this.registry];
    let flushed = 0;
    new Counter({
      name: 'webrtc_turn_forwarded_datagrams_total',
      help: 'UDP datagrams a TURN relay thread got for a client another thread owns (after a thread restart), forwarded to the owner and handled there',
      registers,
      collect() {
        const total = source.forwardedDatagrams();
        if (total > flushed) {
          this.inc(total - flushed);
          flushed = total;
        }
      },
    });
    new Gauge({
      name: 'webrtc_turn_thread_allocations',
      help: 'TURN allocations held by each running relay thread',
      labelNames: ['thread'] as const,
      registers,
      collect() {
        this.reset();
        for (const [thread, allocations] of source.allocationsByThread()) this.set({ thread: String(thread) }, allocations);
      },
    });
  }

  setSources(sources: GaugeSources): void {
    this.sources = sources;
  }

  drop(reason: DropReason): void {
    let counter = this.droppedBy.get(reason);
    if (!counter) {
      counter = this.dropped.labels(reason);
      this.droppedBy.set(reason, counter);
    }
    counter.inc();
  }

  authFailed(transport: AuthTransport, count = 1): void {
    this.authFailures.inc({ transport }, count);
  }

  /** An attempt refused unchecked: its source IP or its username failed too often. */
  authThrottled(transport: AuthTransport, scope: 'ip' | 'username', count = 1): void {
    this.authThrottles.inc({ transport, scope }, count);
  }

  /** A TURN request refused or dropped by one of the adapter's limits. */
  turnRefused(reason: TurnRefusalReason, count = 1): void {
    this.turnRefusedBy.get(reason)?.inc(count);
  }

  connectionRefused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  rateLimited(action: 'throttled' | 'closed'): void {
    this.rateLimits.inc({ action });
  }

  restarted(supervisor: string, child: string): void {
    this.restarts.inc({ supervisor, child });
  }

  /** The Prometheus text exposition. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
