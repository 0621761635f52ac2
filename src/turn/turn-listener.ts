/**
 * The STUN/TURN listener: turn_sup's `turn_listener` child, started after
 * the relay threads (docs/turn-threads.md). It works out the relay address
 * and policy from the options and starts a `TurnBackend`:
 *  - with relay threads (`turnThreads` > 0, `hub` set): TCP on the port
 *    number the threads' UDP sockets share, TLS on `turnTlsPort`; UDP is
 *    the threads' (turn_relay_1..N), this listener takes its quota slots
 *    from the hub and its `stats()` add the threads' counts;
 *  - without (`turnThreads` 0: Node 20, or asked for; or test-only tuning
 *    functions that cannot cross threads): UDP on `turnPort` on the main
 *    thread as well.
 * TLS on signaling's port is signaling's listener's: it hands TURN streams
 * over (`acceptTlsStream`). The listener registers itself as
 * `turn_listener` so the server's `turnAddress()` finds it again after a
 * restart, and reports an engine failure as a crash so its supervisor
 * restarts it on the same ports.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { AuthGate } from '../auth/guess-throttle.js';
import type { Metrics } from '../observability/metrics.js';
import { ErrorCode, ServerError } from '../errors.js';
import { sharesTlsPort } from '../options.js';
import type { ResolvedOptions } from '../options.js';
import type { NameRegistry } from '../otp/registry.js';
import { ExitLink } from '../otp/worker.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { TurnCredentialCache } from './credential-cache.js';
import { TurnCredentials } from './credentials.js';
import type { TurnCredentialsOptions } from './credentials.js';
import type { TurnLimits } from './limits.js';
import { NodeTurnBackend } from './node-turn-backend.js';
import type { NonceOptions } from './nonce.js';
import { PeerFilter } from './peer-filter.js';
import type { PeerFilterConfig } from './peer-filter.js';
import type { QuotaLimits } from './quota.js';
import { resolveRelayAddress } from './relay-address.js';
import type { LookupA } from './relay-address.js';
import { listenErrorCode } from './listen.js';
import type {
  NodeTurnDefect, RelayedBytesSink, TurnAddress, TurnAddresses, TurnBackend, TurnBackendConfig, TurnEvents, TurnStats, TurnTlsConfig,
} from './turn-backend.js';
import { TURN_LISTENER_NAME } from '../names.js';
import type { RelayHub } from './relay-hub.js';

/** Settings that are not (yet) options: defaults suit production; tests tune them. */
export interface TurnTuning {
  /** Replaces the quotas of `turnMaxAllocationsPerUser` / `turnMaxAllocations`. */
  quotas?: QuotaLimits;
  nonce?: NonceOptions;
  credentials?: TurnCredentialsOptions;
  /** Replaces some of the limits against abuse (limits.ts). */
  limits?: Partial<TurnLimits>;
  /** Extra peer policy, added to `turnAllowedPeers` / `turnDeniedPeers`. */
  peers?: Pick<PeerFilterConfig, 'allowed' | 'denied'>;
  /** DNS lookup for the `turnIp` default. */
  lookup?: LookupA;
  /** Test only: node-turn defects to leave in place. */
  unmended?: ReadonlySet<NodeTurnDefect>;
  backendFactory?: (config: TurnBackendConfig) => TurnBackend;
}

export interface TurnListenerDeps {
  options: ResolvedOptions;
  logger: Logger;
  authenticator: Pick<Authenticator, 'passwordFor'>;
  registry?: NameRegistry;
  cache: TurnCredentialCache;
  /** Port to bind; defaults to `options.turnPort`. */
  port?: number;
  /** TLS port to bind; defaults to `options.turnTlsPort`. */
  tlsPort?: number;
  /** Counts relayed bytes (the server's `webrtc_turn_relayed_bytes_total`). */
  relayed?: RelayedBytesSink;
  /** Told of auth failures and refusals (the server's metrics). */
  events?: TurnEvents;
  /** The server's password-guess throttle, shared with signaling. */
  authGate?: AuthGate;
  /**
   * With relay threads (`turnThreads` > 0): they serve UDP on the port the
   * first of them bound; this listener serves TCP/TLS streams on that port
   * number, takes quota slots from the hub, and its stats sum the threads'.
   */
  hub?: RelayHub | null;
  tuning?: TurnTuning;
}

/** The address TURN binds to: IPv4 only (relays are IPv4); loopback in dev mode. */
export function turnListenHost(options: ResolvedOptions): string {
  const host = options.host;
  if (host === 'localhost' || host === '::1') return '127.0.0.1';
  if (host === '::') return '0.0.0.0';
  if (options.dev && !/^127\./.test(host)) return '127.0.0.1';
  return host.includes(':') ? '0.0.0.0' : host;
}

/**
 * TURN over TLS on a listener of its own, with signaling's certificate; null
 * when off, or when it shares signaling's port (signaling's listener then
 * does the handshakes).
 */
function ownTlsConfig(options: ResolvedOptions, port: number | undefined): TurnTlsConfig | null {
  if (options.turnTlsPort === null || options.tls === null || sharesTlsPort(options)) return null;
  const { certfile, keyfile } = options.tls;
  try {
    return { port: port ?? options.turnTlsPort, cert: readFileSync(certfile), key: readFileSync(keyfile) };
  } catch (cause) {
    throw new ServerError(ErrorCode.LISTEN, `TURN over TLS cannot read certfile/keyfile: ${(cause as Error).message}`, { option: 'certfile', cause });
  }
}

export class TurnListener implements Worker {
  private readonly supervisorLink = new ExitLink();
  private stopped = false;

  private constructor(
    private readonly backend: TurnBackend,
    private readonly logger: Logger,
    private readonly registry: NameRegistry | undefined,
    readonly relayAddress: string,
    private readonly options: ResolvedOptions,
    private readonly hub: RelayHub | null,
  ) {}

  static async start(deps: TurnListenerDeps): Promise<TurnListener> {
    const { options, logger } = deps;
    if (options.turnPort === false) throw new Error('TURN is disabled (turnPort: false)');
    const tuning = deps.tuning ?? {};
    const hub = deps.hub ?? null;
    if (hub && hub.port === null) throw new Error('TURN relay threads have not bound their port yet');
    const listenHost = turnListenHost(options);
    const relayAddress = hub?.config?.relayAddress ?? await resolveRelayAddress(
      { turnIp: options.turnIp, hostname: options.hostname, listenHost, dev: options.dev }, logger, tuning.lookup,
    );
    const peerFilter = new PeerFilter({
      allowLoopbackPeers: options.allowLoopbackPeers,
      allowed: [...options.turnAllowedPeers, ...(tuning.peers?.allowed ?? [])],
      denied: [...options.turnDeniedPeers, ...(tuning.peers?.denied ?? [])],
      selfAddresses: [relayAddress, listenHost],
      relayPorts: options.relayPorts,
    });
    const config: TurnBackendConfig = {
      listenHost,
      port: hub?.port ?? deps.port ?? options.turnPort,
      ...(hub ? { udp: false, quotaLedger: hub.quota.mainLedger() } : {}),
      tcp: options.turnTcp,
      tls: ownTlsConfig(options, deps.tlsPort),
      handshakeTimeoutMs: options.handshakeTimeout,
      realm: options.hostname,
      relayAddress,
      relayBindHost: listenHost,
      relayPorts: options.relayPorts,
      maxLifetimeSec: options.turnLifetime,
      peerFilter,
      credentials: new TurnCredentials(deps.cache, deps.authenticator, tuning.credentials),
      quotas: tuning.quotas ?? { perUser: options.turnMaxAllocationsPerUser, total: options.turnMaxAllocations },
      logger,
      ...(deps.relayed ? { relayed: deps.relayed } : {}),
      ...(deps.events ? { events: deps.events } : {}),
      ...(deps.authGate ? { authGate: deps.authGate } : {}),
      ...(tuning.limits ? { limits: tuning.limits } : {}),
      ...(tuning.nonce ? { nonce: tuning.nonce } : {}),
      ...(tuning.unmended ? { unmended: tuning.unmended } : {}),
    };
    const backend = (tuning.backendFactory ?? ((c) => new NodeTurnBackend(c)))(config);
    const address = await backend.start();
    const listener = new TurnListener(backend, logger, deps.registry, relayAddress, options, hub);
    backend.onFailure((err) => listener.exit(err));
    deps.registry?.register(TURN_LISTENER_NAME, listener);
    logger.info(
      { listener: TURN_LISTENER_NAME, host: address.host, port: address.port, relayAddress, relayPorts: options.relayPorts, realm: options.hostname },
      `STUN/TURN listening on udp://${address.host}:${address.port} (relay ${relayAddress}, ports ${options.relayPorts[0]}-${options.relayPorts[1]}${hub ? `; UDP on ${hub.threads} relay threads` : ''})`,
    );
    const { tcp, tls } = backend.addresses() ?? { tcp: null, tls: null };
    if (tcp) logger.info({ listener: TURN_LISTENER_NAME, transport: 'tcp', host: tcp.host, port: tcp.port }, `TURN listening on tcp://${tcp.host}:${tcp.port}`);
    if (tls) logger.info({ listener: TURN_LISTENER_NAME, transport: 'tls', host: tls.host, port: tls.port }, `TURN listening on tls://${tls.host}:${tls.port}`);
    if (sharesTlsPort(options)) {
      logger.info({ listener: TURN_LISTENER_NAME, transport: 'tls', port: options.port, shared: true }, 'TURN over TLS shares the signaling listener\'s port');
    }
    return listener;
  }

  /** Where each transport listens (TLS null when off or on signaling's port), or null once stopped. */
  addresses(): TurnAddresses | null {
    return this.backend.addresses();
  }

  /**
   * Reads `certfile`/`keyfile` again for TURN's own TLS listener (signaling
   * reloaded them: SIGHUP); with the shared port, signaling's reload is TURN's.
   */
  reloadTls(): void {
    const tls = this.backend.addresses()?.tls ? ownTlsConfig(this.options, undefined) : null;
    if (!tls) return;
    this.backend.reloadTls(tls.cert, tls.key);
    this.logger.info({ listener: TURN_LISTENER_NAME, transport: 'tls' }, 'TURN TLS certificate reloaded');
  }

  /** A TLS stream signaling's listener took (the one shared port): served as TURN over TLS. */
  acceptTlsStream(socket: TLSSocket): void {
    this.backend.acceptTlsStream(socket);
  }

  /** The bound UDP address (`relayAddress` is what clients are told to relay through). */
  address(): TurnAddress | null {
    const bound = this.backend.address();
    return bound && { host: bound.host, port: bound.port };
  }

  /** O(1) (O(threads) with relay threads: their counts in shared memory, summed). */
  stats(): TurnStats {
    const own = this.backend.stats();
    if (!this.hub) return own;
    const threads = this.hub.stats();
    return {
      allocations: own.allocations + threads.allocations,
      permissions: own.permissions + threads.permissions,
      channels: own.channels + threads.channels,
      relayedBytes: own.relayedBytes + threads.relayedBytes,
      relaySockets: own.relaySockets + threads.relaySockets,
      pendingAllocations: own.pendingAllocations + threads.pendingAllocations,
      pendingAuthLookups: own.pendingAuthLookups + threads.pendingAuthLookups,
      engineNonces: own.engineNonces + threads.engineNonces,
      streams: own.streams,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.registry?.unregister(TURN_LISTENER_NAME, this);
    await this.backend.stop();
    this.logger.info({ listener: TURN_LISTENER_NAME }, 'STUN/TURN stopped');
  }

  kill(): void {
    void this.stop();
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisorLink.onExit(listener);
  }

  private exit(reason: ExitReason): void {
    if (this.stopped) return;
    this.stopped = true;
    this.registry?.unregister(TURN_LISTENER_NAME, this);
    this.supervisorLink.exit(reason);
  }
}

/** The server's metrics as the TURN adapter's narrow events sink. */
export function turnEvents(metrics: Metrics): TurnEvents {
  return {
    authFailed: (count) => metrics.authFailed('turn', count),
    authThrottled: (scope, count) => metrics.authThrottled('turn', scope, count),
    refused: (reason, count) => metrics.turnRefused(reason, count),
  };
}

/**
 * Starts the server's TURN listener, again and again under turn_sup: a
 * restart binds the port the first start got (so `turnPort: 0` keeps its
 * port); if that port was taken meanwhile and the option was 0, any free
 * port will do. One per server.
 */
export class TurnListenerStarter {
  private bound: { port: number; tlsPort?: number } | null = null;

  constructor(private readonly deps: TurnListenerDeps) {}

  readonly start = async (): Promise<TurnListener> => {
    const previous = this.bound;
    let listener: TurnListener;
    try {
      listener = await TurnListener.start(previous === null ? this.deps : { ...this.deps, ...previous });
    } catch (err) {
      const options = this.deps.options;
      if (previous === null || (options.turnPort !== 0 && options.turnTlsPort !== 0) || listenErrorCode(err) !== 'EADDRINUSE') throw err;
      listener = await TurnListener.start(this.deps);
    }
    const addresses = listener.addresses();
    if (addresses) this.bound = { port: addresses.udp.port, ...(addresses.tls ? { tlsPort: addresses.tls.port } : {}) };
    return listener;
  };
}
