/**
 * The composition root: the one place that builds a server's object graph.
 * `buildContainer` validates the options, loads the modules they name and
 * registers every service of one server, by explicit token, in a tsyringe
 * child container of its own (servers in one process share nothing).
 * `tree` then assembles the supervision tree from those services: the
 * `*_sup.ts` files hold flags and child specs only, and get what their
 * children need from here.
 */
import 'reflect-metadata';
import { container as globalContainer } from 'tsyringe';
import type { DependencyContainer } from 'tsyringe';
import type { Logger } from 'pino';
import type { AnyHttpServer } from '../src/api.js';
import { ActorFactory } from '../src/actor-factory.js';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { GuessThrottle } from '../src/auth/guess-throttle.js';
import { systemClock } from '../src/clock.js';
import {
  ACTOR_FACTORY, ATTACH_TO, AUTHENTICATOR, CALLBACK_RUNNER, CLOCK, CLUSTER, GUESS_THROTTLE, INSPECTION, LIFECYCLE, LOGGER, LOGINS,
  METRICS, OPTIONS, REGISTRY, RELAY_HUB, ROOM_BUS, SERVER_API, SUPERVISOR_OBSERVER, TURN_CREDENTIALS, TURN_LIMITS,
} from '../src/di/tokens.js';
import { MetricsListener } from '../src/http/metrics-listener.js';
import { HttpRoutes } from '../src/http/routes.js';
import type { RouteSet } from '../src/http/routes.js';
import { Lifecycle } from '../src/lifecycle.js';
import { ClusterNode } from '../src/cluster/cluster-node.js';
import { CLUSTER_TIMING } from '../src/cluster/timing.js';
import type { ClusterTiming } from '../src/cluster/timing.js';
import { ClusterRoomBus } from '../src/cluster/cluster-room-bus.js';
import { CLUSTER_PREFIX } from '../src/cluster/scripts.js';
import { CONNECTION_SUP_NAME, TURN_LISTENER_NAME } from '../src/names.js';
import type { DynamicSupervisor } from '../src/otp/dynamic-supervisor.js';
import type { Connection } from '../src/signaling/connection.actor.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inspection, startInspectorRelay } from '../src/observability/inspector.js';
import { createLogger } from '../src/observability/log-output.js';
import { Metrics } from '../src/observability/metrics.js';
import { ErrorCode, ServerError } from '../src/errors.js';
import { parseOptions, sharesTlsPort } from '../src/options.js';
import type { Options } from '../src/options.js';
import { NameRegistry } from '../src/otp/registry.js';
import type { SupervisorContext } from '../src/otp/supervisor.js';
import type { ChildSpec, SupervisorSnapshot } from '../src/otp/worker.js';
import { CallbackRunner, loadCallbacks } from '../src/rooms/callback-runner.js';
import { LocalRoomBus } from '../src/rooms/room-bus.js';
import type { RoomBus } from '../src/rooms/room-bus.js';
import type { LoginListener } from '../src/auth/logins.js';
import { RoomDirectory } from '../src/rooms/room-directory.js';
import { RoomActors } from '../src/rooms/room.actor.js';
import type { RoomWorker } from '../src/rooms/room.actor.js';
import { gaugeSources, serverApi } from '../src/server-api.js';
import { ConnectionFactory } from '../src/signaling/connection.actor.js';
import { SignalingListener } from '../src/signaling/listener.js';
import { TurnCredentialCache } from '../src/turn/credential-cache.js';
import { turnEvents, TurnListenerStarter } from '../src/turn/turn-listener.js';
import { RelayHub } from '../src/turn/relay-hub.js';
import { RelayThreadStarter } from '../src/turn/relay-thread-starter.js';
import { resolveTurnThreads } from '../src/turn/reuse-port.js';
import type { TurnListener } from '../src/turn/turn-listener.js';
import type { TurnStreamSink } from '../src/signaling/listener.js';
import { connectionSupSpec } from './connection_sup.js';
import { roomSupSpec } from './room_sup.js';
import { rootSupSpec } from './root_sup.js';
import { signalingSupSpec } from './signaling_sup.js';
import { turnListenerSpec, turnRelaySpec, turnSupSpec } from './turn_sup.js';
import type { TurnLimits } from '../src/turn/limits.js';

export interface AppEnvironment {
  /** Mount on this http(s) server instead of listening (the `attach` API). */
  attachTo?: AnyHttpServer;
  /** Folder against which relative `module` paths resolve (default: cwd). */
  baseDir?: string;
  /** A pino logger to use instead of one writing to stdout. */
  logger?: Logger;
  /** The room bus to use instead of the in-process one (tests inject faults here). */
  roomBus?: RoomBus;
  /** With `redisUrl`: this server's name in the cluster (default: a fresh one per start), and its timing. */
  cluster?: { node?: string; timing?: ClusterTiming };
  /**
   * TURN's limits against abuse instead of the defaults (src/turn/limits.ts),
   * for benches and tests, not an option: the bench's load opens 64
   * allocations from one IP, more than the challenge budget of one address.
   */
  turnLimits?: Partial<TurnLimits>;
}


/** Validates `input`, loads the modules it names and registers one server's services. */
export async function buildContainer(input: Options | unknown, env: AppEnvironment = {}): Promise<DependencyContainer> {
  const options = parseOptions(input);
  if (env.attachTo && sharesTlsPort(options)) {
    throw new ServerError(ErrorCode.INVALID_OPTION, 'invalid option "turnTlsPort": attached to a server of yours, TURN cannot share its port; give TURN a port of its own', { option: 'turnTlsPort' });
  }
  const baseDir = env.baseDir ?? process.cwd();
  const logger = env.logger ?? createLogger(options);
  const metrics = new Metrics();
  const inspection = options.inspect === null ? null : new Inspection();
  const c = globalContainer.createChildContainer();
  c.register(OPTIONS, { useValue: options });
  c.register(LOGGER, { useValue: logger });
  c.register(CLOCK, { useValue: systemClock });
  c.register(REGISTRY, { useValue: new NameRegistry() });
  c.register(LIFECYCLE, { useValue: new Lifecycle() });
  c.register(METRICS, { useValue: metrics });
  if (inspection) c.register(INSPECTION, { useValue: inspection });
  if (env.attachTo) c.register(ATTACH_TO, { useValue: env.attachTo });
  if (env.turnLimits) c.register(TURN_LIMITS, { useValue: { ...env.turnLimits } });
  c.register(SUPERVISOR_OBSERVER, {
    useValue: {
      restarted: (supervisor: string, child: string) => metrics.restarted(supervisor, child),
      changed: (supervisor: string, snapshot: SupervisorSnapshot) => inspection?.supervisors.changed?.(supervisor, snapshot),
    },
  });
  c.register(AUTHENTICATOR, { useValue: await createAuthenticator(options.auth, { baseDir }) });
  c.register(GUESS_THROTTLE, { useValue: new GuessThrottle() });
  const callbacks = await loadCallbacks(options.callbacks, baseDir);
  c.register(CALLBACK_RUNNER, {
    useValue: new CallbackRunner(callbacks, logger, { onError: () => metrics.callbackErrors.inc(), onDrop: () => metrics.callbacksDropped.inc() }),
  });
  const cluster = options.redisUrl === null
    ? null
    : new ClusterRoomBus({
        redisUrl: options.redisUrl,
        node: env.cluster?.node ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
        prefix: CLUSTER_PREFIX,
        logger,
        callbacks: c.resolve(CALLBACK_RUNNER),
        timing: env.cluster?.timing ?? CLUSTER_TIMING,
        counted: { reaped: (n) => metrics.clusterReaped.inc(n), resynced: () => metrics.clusterResyncs.inc() },
        kick: (peerId) => {
          const connection = c.resolve(REGISTRY).whereis<DynamicSupervisor<Connection>>(CONNECTION_SUP_NAME)?.child(peerId);
          connection?.kick();
          return connection !== undefined;
        },
      });
  if (cluster) c.register(CLUSTER, { useValue: cluster });
  c.register(ROOM_BUS, { useValue: env.roomBus ?? cluster ?? new LocalRoomBus() });
  c.register(TURN_CREDENTIALS, { useValue: new TurnCredentialCache() });
  const turnThreads = await resolveTurnThreads(options, logger);
  if (turnThreads > 0) {
    const hub = new RelayHub({
      logger,
      cache: () => c.resolve(TURN_CREDENTIALS),
      authenticator: c.resolve(AUTHENTICATOR),
      gate: c.resolve(GUESS_THROTTLE),
      events: turnEvents(metrics),
      quotas: { perUser: options.turnMaxAllocationsPerUser, total: options.turnMaxAllocations },
      threads: turnThreads,
    });
    metrics.turnRelayed.addSource(() => hub.relayedBytes());
    metrics.watchRelayThreads(hub);
    c.register(RELAY_HUB, { useValue: hub });
  }
  // Signaling logins are remembered for TURN; with TURN off, no password is kept.
  if (options.turnPort === false) c.register(LOGINS, { useValue: FORGET_LOGINS });
  else c.register(LOGINS, { useToken: TURN_CREDENTIALS });
  c.register(ACTOR_FACTORY, { useValue: new ActorFactory(systemClock, inspection?.inspect) });
  c.registerSingleton(ConnectionFactory);
  c.register(SERVER_API, {
    useValue: serverApi({ options, bus: c.resolve(ROOM_BUS), registry: c.resolve(REGISTRY), metrics, lifecycle: c.resolve(LIFECYCLE), cluster }),
  });
  metrics.setSources(gaugeSources(c.resolve(ROOM_BUS), c.resolve(ConnectionFactory).census, c.resolve(REGISTRY), cluster));
  return c;
}

/** The login listener with TURN off: nothing needs a signaling login's password afterwards. */
const FORGET_LOGINS: LoginListener = { loggedIn: () => {} };

/** TURN streams of the shared TLS port go to the TURN listener running now (none while it restarts: closed). */
function turnStreamSink(registry: NameRegistry): TurnStreamSink {
  return (socket) => {
    const turn = registry.whereis<TurnListener>(TURN_LISTENER_NAME);
    if (turn) turn.acceptTlsStream(socket);
    else socket.destroy();
  };
}

/** The supervision tree of the server in `c`, and its parts (tests start parts alone). */
export interface Tree {
  root: ChildSpec;
  turnSup: ChildSpec;
  signalingSup: ChildSpec;
  /** null when TURN is off. */
  turnListener: ChildSpec | null;
}

/** Assembles the tree of the server in `c`: what each child starts, with which services. */
export function tree(c: DependencyContainer): Tree {
  const options = c.resolve(OPTIONS);
  const logger = c.resolve(LOGGER);
  const registry = c.resolve(REGISTRY);
  const metrics = c.resolve(METRICS);
  const context: SupervisorContext = { logger, observer: c.resolve(SUPERVISOR_OBSERVER) };
  const routes = (set: RouteSet) => new HttpRoutes(c.resolve(SERVER_API), metrics, options.adminToken, set);

  const hub = c.isRegistered(RELAY_HUB) ? c.resolve(RELAY_HUB) : null;
  const turnLimits = c.isRegistered(TURN_LIMITS) ? c.resolve(TURN_LIMITS) : undefined;
  const relayStarter = hub && new RelayThreadStarter(hub, options, logger, turnLimits ? { limits: turnLimits } : {});
  const relays = hub && relayStarter ? Array.from({ length: hub.threads }, (_, i) => turnRelaySpec(i + 1, relayStarter.starter(i + 1))) : [];
  const turnListener = turnListenerSpec(
    options.turnPort === false
      ? null
      : new TurnListenerStarter({
          options,
          logger,
          authenticator: c.resolve(AUTHENTICATOR),
          registry,
          cache: c.resolve(TURN_CREDENTIALS),
          relayed: metrics.turnRelayed,
          events: turnEvents(metrics),
          authGate: c.resolve(GUESS_THROTTLE),
          hub,
          ...(turnLimits ? { tuning: { limits: turnLimits } } : {}),
        }).start,
  );
  const turnSup = turnSupSpec(turnListener, context, relays);

  const roomActors = new RoomActors(c.resolve(ROOM_BUS), c.resolve(CALLBACK_RUNNER), c.resolve(ACTOR_FACTORY), logger);
  const attachTo = c.isRegistered(ATTACH_TO) ? c.resolve(ATTACH_TO) : null;
  const signalingSup = signalingSupSpec(
    {
      roomSup: roomSupSpec<RoomWorker>(
        (supervisor) => new RoomDirectory(supervisor, roomActors, c.resolve(ROOM_BUS), c.resolve(CALLBACK_RUNNER), logger, registry),
        context,
      ),
      connectionSup: connectionSupSpec(registry, context),
      listener: () =>
        new SignalingListener(
          options, c.resolve(ConnectionFactory), registry, logger, attachTo,
          routes({ observability: options.metricsPort === null, example: options.example }), metrics,
          sharesTlsPort(options) ? turnStreamSink(registry) : null,
        ).start(),
    },
    context,
  );

  const inspection = c.isRegistered(INSPECTION) ? c.resolve(INSPECTION) : null;
  const inspectPort = options.inspect;
  const metricsPort = options.metricsPort;
  const cluster = c.isRegistered(CLUSTER) ? c.resolve(CLUSTER) : null;
  const root = rootSupSpec(
    {
      clusterNode: cluster ? async () => ClusterNode.start(cluster, logger) : null,
      inspectorRelay: inspection && inspectPort !== null ? () => startInspectorRelay(inspectPort, inspection, logger) : null,
      metricsListener: metricsPort === null ? null : () => MetricsListener.start(metricsPort, routes({ observability: true, example: false }), registry, logger),
      turnSup,
      signalingSup,
    },
    context,
  );
  return { root, turnSup, signalingSup, turnListener };
}
