/**
 * The signaling listener (the acceptor, in ranch's terms): an HTTP(S)
 * server of its own, or the user's server when attached, whose
 * `/websocket/:room` upgrades become connection actors under the connection
 * supervisor. Stopping it stops accepting; the connection supervisor, which
 * stops next, drains the sockets.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { DynamicSupervisor } from '../../supervisors/dynamic_supervisor.js';
import type { ExitReason, Worker } from '../../supervisors/worker.js';
import { ErrorCode, ServerError } from '../errors.js';
import type { HttpRoutes } from '../http/routes.js';
import type { ResolvedOptions } from '../options.js';
import type { NameRegistry } from '../registry.js';
import type { Connection, ConnectionFactory } from './connection.actor.js';
import { PeerIds } from './protocol.js';

export type AnyHttpServer = HttpServer | HttpsServer;
export const CONNECTION_SUP_NAME = 'connection_sup';
export const LISTENER_NAME = 'signaling_listener';

/** `/websocket/:room` → the room, or the HTTP status refusing the path. */
export function roomFromPath(url: string | undefined): { room: string } | { status: 400 | 404 } {
  const path = (url ?? '/').split('?')[0]!;
  const match = /^\/websocket\/([^/]*)$/.exec(path);
  if (!match) return { status: 404 };
  let room: string;
  try {
    room = decodeURIComponent(match[1]!);
  } catch {
    return { status: 400 };
  }
  return room === '' ? { status: 400 } : { room };
}

/** True for paths the signaling endpoint owns (`/websocket` and below). */
function isSignalingPath(url: string | undefined): boolean {
  const path = (url ?? '/').split('?')[0]!;
  return path === '/websocket' || path.startsWith('/websocket/');
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 503: 'Service Unavailable' };

function refuseUpgrade(socket: Duplex, status: 400 | 404 | 503): void {
  const body = `${STATUS_TEXT[status]}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

export class SignalingListener implements Worker {
  private readonly wss: WebSocketServer;
  private readonly server: AnyHttpServer;
  private readonly owned: boolean;

  private draining = false;
  private readonly peerIds = new PeerIds();
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => this.request(req, res);

  constructor(
    private readonly options: ResolvedOptions,
    private readonly factory: ConnectionFactory,
    private readonly registry: NameRegistry,
    private readonly logger: Logger,
    attachTo: AnyHttpServer | null,
    private readonly routes: HttpRoutes,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      clientTracking: false,
      perMessageDeflate: false,
    });
    this.owned = attachTo === null;
    this.server = attachTo ?? this.createServer();
  }

  /** Listens (own server) or attaches (user's server). */
  async start(): Promise<this> {
    this.registry.register(LISTENER_NAME, this);
    this.server.on('upgrade', this.onUpgrade);
    if (!this.owned) return this;
    this.server.on('request', this.onRequest);
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => {
        this.server.off('upgrade', this.onUpgrade);
        this.registry.unregister(LISTENER_NAME, this);
        reject(new ServerError(ErrorCode.LISTEN, `cannot listen on ${this.options.host}:${this.options.port}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', failed);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', failed);
        resolve();
      });
    });
    this.server.on('error', (err) => this.logger.error({ err }, 'signaling server error'));
    const { host, port } = this.address()!;
    const scheme = this.options.tls ? 'wss' : 'ws';
    this.logger.info({ listener: 'signaling', host, port, url: `${scheme}://${host}:${port}/websocket/:room` }, 'signaling listening');
    if (this.options.dev) this.logger.info({ listener: 'example', url: `${this.options.tls ? 'https' : 'http'}://${host}:${port}/` }, 'example client served');
    return this;
  }

  /** The address actually bound (null while an attached server is not listening). */
  address(): { host: string; port: number } | null {
    const address = this.server.address();
    if (address === null || typeof address === 'string') return null;
    return { host: (address as AddressInfo).address, port: (address as AddressInfo).port };
  }

  /** Stops accepting; open sockets are drained by the connection supervisor. */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.registry.unregister(LISTENER_NAME, this);
    this.server.off('upgrade', this.onUpgrade);
    if (this.owned) {
      this.server.off('request', this.onRequest);
      this.server.close();
      this.server.closeIdleConnections();
    }
    this.wss.close();
  }

  onExit(_listener: (reason: ExitReason) => void): void {
    // The listener only exits when stopped; server errors are logged.
  }

  private createServer(): AnyHttpServer {
    const tls = this.options.tls;
    if (!tls) return createHttpServer();
    return createHttpsServer({ cert: readFileSync(tls.certfile), key: readFileSync(tls.keyfile) });
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    if (this.routes.handle(req, res)) return;
    const status = isSignalingPath(req.url) ? 426 : 404;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 426 ? 'Upgrade Required\n' : 'Not Found\n');
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // On a user's server, other upgrade paths belong to the user's own handlers.
    if (!this.owned && !isSignalingPath(req.url) && this.server.listenerCount('upgrade') > 1) return;
    socket.on('error', () => socket.destroy());
    const target = roomFromPath(req.url);
    if ('status' in target) return refuseUpgrade(socket, target.status);
    const connections = this.registry.whereis<DynamicSupervisor<Connection>>(CONNECTION_SUP_NAME);
    if (this.draining || !connections) return refuseUpgrade(socket, 503);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const peerId = this.peerIds.next();
      try {
        connections.startChild(peerId, () => this.factory.start(ws, target.room, peerId));
      } catch (err) {
        this.logger.warn({ err }, 'connection refused');
        ws.close(1001, 'server shutting down');
      }
    });
  }
}
