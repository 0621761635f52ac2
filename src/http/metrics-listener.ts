/**
 * The metrics listener (option `metricsPort`): `/metrics`, `/healthz`,
 * `/readyz` and `/admin/*` on 127.0.0.1 only, so that scrapes and the admin
 * API are not reachable from the internet and cost the signaling listener
 * nothing. With it, the signaling listener no longer serves `/metrics` and
 * `/admin/*` (health checks stay on both, for load balancers).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ExitReason, Worker } from '../otp/worker.js';
import { ErrorCode, ServerError } from '../errors.js';
import type { NameRegistry } from '../otp/registry.js';
import type { HttpRoutes } from './routes.js';
import { METRICS_LISTENER_NAME } from '../names.js';

/** Scrapers and admin scripts get this long to send a request; then 408. */
const REQUEST_TIMEOUT_MS = 10_000;

export class MetricsListener implements Worker {
  private readonly server: Server;

  private constructor(
    routes: HttpRoutes,
    private readonly registry: NameRegistry,
  ) {
    this.server = createServer({ headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
      if (routes.handle(req, res)) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found\n');
    });
  }

  /** Listens on 127.0.0.1:`port` (never another interface). */
  static async start(port: number, routes: HttpRoutes, registry: NameRegistry, logger: Logger): Promise<MetricsListener> {
    const listener = new MetricsListener(routes, registry);
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', (err) => reject(new ServerError(ErrorCode.LISTEN, `cannot listen on 127.0.0.1:${port} (metricsPort): ${err.message}`, { option: 'metricsPort', cause: err })));
      listener.server.listen(port, '127.0.0.1', () => resolve());
    });
    registry.register(METRICS_LISTENER_NAME, listener);
    const address = listener.address()!;
    logger.info({ listener: 'metrics', ...address, url: `http://127.0.0.1:${address.port}/metrics` }, 'metrics listening');
    return listener;
  }

  address(): { host: string; port: number } | null {
    const a = this.server.address() as AddressInfo | null;
    return a && { host: a.address, port: a.port };
  }

  async stop(): Promise<void> {
    this.registry.unregister(METRICS_LISTENER_NAME, this);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  onExit(_listener: (reason: ExitReason) => void): void {
    // Exits only when stopped; request errors are answered per request.
  }
}
