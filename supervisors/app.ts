/**
 * The application (ranch_app): builds one server (the composition root,
 * composition.ts) and starts its root_sup. If root_sup exits on its own
 * (restart intensity escalated to the top), the application is over: it
 * logs why and tells its `onExit` listeners (the daemon then exits non-zero).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DependencyContainer } from 'tsyringe';
import type { ServerApi } from '../src/api.js';
import { DEV_USERS } from '../src/auth/authenticator.js';
import { LIFECYCLE, LOGGER, METRICS, OPTIONS, SERVER_API } from '../src/di/tokens.js';
import { HttpRoutes } from '../src/http/routes.js';
import type { Options, ResolvedOptions } from '../src/options.js';
import type { ChildSpec, ExitReason } from '../src/otp/worker.js';
import { buildContainer, tree } from './composition.js';
import type { AppEnvironment } from './composition.js';

export type { AppEnvironment } from './composition.js';

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

function logDevMode(c: DependencyContainer): void {
  if (!c.resolve(OPTIONS).dev) return;
  c.resolve(LOGGER).warn(
    { users: Object.keys(DEV_USERS), password: DEV_USERS.alice },
    'DEV MODE: no "auth" configured; accepting the demo users listed here, on loopback only. NOT FOR PRODUCTION: configure "auth".',
  );
}

/** Starts a whole server: validates, builds, starts root_sup. */
export async function startApplication(input: Options | unknown, env: AppEnvironment = {}): Promise<ServerHandle> {
  const c = await buildContainer(input, env);
  const options = c.resolve(OPTIONS);
  const logger = c.resolve(LOGGER);
  const lifecycle = c.resolve(LIFECYCLE);
  const api = c.resolve(SERVER_API);
  logDevMode(c);
  const root = await tree(c).root.start();
  lifecycle.running(root);
  let stopping: Promise<void> | null = null;
  const exitListeners: ((reason: ExitReason) => void)[] = [];
  root.onExit((reason) => {
    lifecycle.stopped();
    logger.fatal({ err: reason }, 'root supervisor exited: server stopped');
    for (const listener of exitListeners) listener(reason);
  });
  const routes = new HttpRoutes(api, c.resolve(METRICS), options.adminToken, { observability: true, example: false });
  return {
    ...api,
    options,
    handleHttp: (req, res) => routes.handle(req, res),
    stop() {
      stopping ??= (async () => {
        lifecycle.drain();
        logger.info('stopping');
        await root.stop();
        lifecycle.stopped();
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
  const spec = tree(c).root;
  const lifecycle = c.resolve(LIFECYCLE);
  return {
    ...spec,
    start: async () => {
      const worker = await spec.start();
      lifecycle.running(worker);
      return worker;
    },
    server: c.resolve(SERVER_API),
  };
}
