/**
 * The application: validates options, builds the server's own dependency
 * container (a tsyringe child container, so servers in one process share
 * nothing), and starts root_sup. If root_sup exits on its own (restart
 * intensity escalated to the top), the application is over: it logs why and
 * tells its `onExit` listeners (the daemon then exits non-zero).
 */
import 'reflect-metadata';
import { container as globalContainer } from 'tsyringe';
import type { DependencyContainer } from 'tsyringe';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { ActorFactory } from '../src/actor-factory.js';
import { createAuthenticator, DEV_USERS } from '../src/auth/authenticator.js';
import { GuessThrottle } from '../src/auth/guess-throttle.js';
import { systemClock } from '../src/clock.js';
import {
  ACTOR_FACTORY, ATTACH_TO, AUTHENTICATOR, CALLBACK_RUNNER, GUESS_THROTTLE, CLOCK, LIFECYCLE, LOGGER, METRICS, OPTIONS, REGISTRY, ROOM_BUS,
  INSPECTION, ROOT, SERVER_API, SUPERVISOR_OBSERVER,
} from '../src/di/tokens.js';
import { Inspection } from '../src/observability/inspector.js';
import { HttpRoutes } from '../src/http/routes.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Metrics } from '../src/observability/metrics.js';
import { gaugeSources, serverApi } from '../src/server-api.js';
import type { AnyHttpServer, ServerApi } from '../src/api.js';
import { parseOptions } from '../src/options.js';
import type { Options, ResolvedOptions } from '../src/options.js';
import { NameRegistry } from '../src/otp/registry.js';
import { CallbackRunner, loadCallbacks } from '../src/rooms/callback-runner.js';
import { LocalRoomBus } from '../src/rooms/room-bus.js';
import { ConnectionFactory } from '../src/signaling/connection.actor.js';
import { TURN_CREDENTIALS, TurnCredentialCache } from '../src/turn/credential-cache.js';
import { TURN_BOUND_PORT } from '../src/turn/turn-listener.js';
import { rootSupSpec } from './root_sup.js';
import type { ChildSpec, ExitReason, SupervisorSnapshot } from '../src/otp/worker.js';

export interface AppEnvironment {
  /** Mount on this http(s) server instead of listening (the `attach` API). */
  attachTo?: AnyHttpServer;
  /** Folder against which relative `module` paths resolve (default: cwd). */
  baseDir?: string;
  /** A pino logger to use instead of one writing to stdout. */
  logger?: Logger;
}

export interface ServerHandle extends ServerApi {
  readonly options: ResolvedOptions;
  /**
   * Answers `/metrics`, `/healthz`, `/readyz` and (with `adminToken`)
   * `/admin/*` on a request of the user's own server; false when the path is
   * not one of those. For `attach`, where the request handler is the user's.
   */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean;
  stop(): Promise<void>;
  /** Called if the server stops on its own (its root supervisor gave up). */
  onExit(listener: (reason: ExitReason) => void): void;
}

/** Validates `input`, loads the modules it names and builds the container. */
export async function buildContainer(input: Options | unknown, env: AppEnvironment = {}): Promise<DependencyContainer> {
  const options = parseOptions(input);
  const baseDir = env.baseDir ?? process.cwd();
  const logger = env.logger ?? pino({ level: options.logLevel, base: { service: 'webrtc-server' } });
  const c = globalContainer.createChildContainer();
  c.register(OPTIONS, { useValue: options });
  c.register(LOGGER, { useValue: logger });
  c.register(CLOCK, { useValue: systemClock });
  c.register(REGISTRY, { useValue: new NameRegistry() });
  c.register(ATTACH_TO, { useValue: { server: env.attachTo ?? null } });
  c.register(AUTHENTICATOR, { useValue: await createAuthenticator(options.auth, { baseDir }) });
  c.register(GUESS_THROTTLE, { useValue: new GuessThrottle() });
  const metrics = new Metrics();
  c.register(METRICS, { useValue: metrics });
  const inspection = options.inspect === null ? null : new Inspection();
  c.register(INSPECTION, { useValue: { inspection } });
  c.register(SUPERVISOR_OBSERVER, {
    useValue: {
      restarted: (supervisor: string, child: string) => metrics.restarted(supervisor, child),
      changed: (supervisor: string, snapshot: SupervisorSnapshot) => inspection?.supervisors.changed?.(supervisor, snapshot),
    },
  });
  c.register(LIFECYCLE, { useValue: { draining: false } });
  const callbacks = await loadCallbacks(options.callbacks, baseDir);
  c.register(CALLBACK_RUNNER, { useValue: new CallbackRunner(callbacks, logger, { onError: () => metrics.callbackErrors.inc(), onDrop: () => metrics.callbacksDropped.inc() }) });
  c.register(ROOM_BUS, { useValue: new LocalRoomBus() });
  c.register(TURN_CREDENTIALS, { useValue: new TurnCredentialCache() });
  c.register(TURN_BOUND_PORT, { useValue: { port: null } });
  c.register(ACTOR_FACTORY, { useValue: new ActorFactory(systemClock, inspection?.inspect) });
  c.registerSingleton(ConnectionFactory);
  c.register(ROOT, { useValue: { current: null } });
  c.register(SERVER_API, { useValue: serverApi(c, () => c.resolve(ROOT).current) });
  metrics.setSources(gaugeSources(c));
  return c;
}

function logDevMode(c: DependencyContainer): void {
  const options = c.resolve(OPTIONS);
  if (!options.dev) return;
  const logger = c.resolve(LOGGER);
  logger.warn(
    { users: Object.keys(DEV_USERS), password: DEV_USERS.alice },
    'DEV MODE: no "auth" configured; accepting the demo users listed here, on loopback only. NOT FOR PRODUCTION: configure "auth".',
  );
}

/** Starts a whole server: validates, builds, starts root_sup. */
export async function startApplication(input: Options | unknown, env: AppEnvironment = {}): Promise<ServerHandle> {
  const c = await buildContainer(input, env);
  const options = c.resolve(OPTIONS);
  const logger = c.resolve(LOGGER);
  logDevMode(c);
  const root = await rootSupSpec(c).start();
  c.resolve(ROOT).current = root;
  let stopping: Promise<void> | null = null;
  const exitListeners: ((reason: ExitReason) => void)[] = [];
  root.onExit((reason) => {
    c.resolve(ROOT).current = null;
    logger.fatal({ err: reason }, 'root supervisor exited: server stopped');
    for (const listener of exitListeners) listener(reason);
  });
  const routes = new HttpRoutes(c.resolve(SERVER_API), c.resolve(METRICS), options.adminToken, { observability: true, example: false });
  return {
    ...c.resolve(SERVER_API),
    options,
    handleHttp: (req, res) => routes.handle(req, res),
    stop() {
      stopping ??= (async () => {
        c.resolve(LIFECYCLE).draining = true;
        logger.info('stopping');
        await root.stop();
        c.resolve(ROOT).current = null;
        logger.info('stopped');
      })();
      return stopping;
    },
    onExit(listener) {
      exitListeners.push(listener);
    },
  };
}

/**
 * Our whole tree as one child spec, for an application that runs its own
 * supervision tree (with `Supervisor` from this package). `server` gives the
 * API of whichever incarnation of the tree is running.
 */
export async function rootSupervisorSpec(input: Options | unknown, env: AppEnvironment = {}): Promise<ChildSpec & { server: ServerApi }> {
  const c = await buildContainer(input, env);
  logDevMode(c);
  const spec = rootSupSpec(c);
  return {
    ...spec,
    start: async () => {
      const worker = await spec.start();
      c.resolve(ROOT).current = worker;
      return worker;
    },
    server: c.resolve(SERVER_API),
  };
}

