/**
 * The signaling listener (the acceptor, in ranch's terms): an HTTP(S)
 * server of its own, or the user's server when attached, whose
 * `/websocket/:room` upgrades become connection actors under the connection
 * supervisor. Stopping it stops accepting; the connection supervisor, which
 * stops next, drains the sockets. With `turnStreams` (`turnTlsPort` equal to
 * `port`), its TLS port is TURN's too: TLS connections that start with STUN
 * go to TURN (shared-tls-port.ts).
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { DynamicSupervisor } from '../otp/dynamic-supervisor.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import { ErrorCode, ServerError } from '../errors.js';
import type { HttpRoutes } from '../http/routes.js';
import type { ResolvedOptions } from '../options.js';
import type { NameRegistry } from '../otp/registry.js';
import type { Metrics } from '../observability/metrics.js';
import type { AnyHttpServer, TlsReload } from '../api.js';
import { CONNECTION_SUP_NAME, SIGNALING_LISTENER_NAME } from '../names.js';
import { Admission } from './admission.js';
import type { Connection, ConnectionFactory } from './connection.actor.js';
import { PeerIds } from './peer-ids.js';
import { shareTlsPort } from './shared-tls-port.js';

/** Where TURN streams of the shared TLS port go (the TURN listener of the moment). */
export type TurnStreamSink = (socket: TLSSocket) => void;


const RESPONSE_408 = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const RESPONSE_400 = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const RESPONSE_431 = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
/** How long a connection over a cap may take to send its request and be told why it is refused. */
const OVER_LIMIT_GRACE_MS = 1000;
/** The largest accept queue asked for (the kernel caps it at net.core.somaxconn anyway). */
const MAX_LISTEN_BACKLOG = 65_535;

/**
 * The accept queue: room for every connection the server may hold arriving at
 * once (a reconnect storm), up to what the kernel allows. With Node's default
 * (511) a storm overflows it: the kernel drops SYNs, and clients wait for
 * their retransmits (1 s, 3 s, 7 s …) while the server sits idle.
 */
export function listenBacklog(maxConnections: number): number {
  return Math.max(511, Math.min(maxConnections, MAX_LISTEN_BACKLOG));
}

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

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function refuseUpgrade(socket: Duplex, status: keyof typeof STATUS_TEXT): void {
  const body = `${STATUS_TEXT[status]}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** The TCP socket under an upgrade's socket (a TLS socket wraps the one 'connection' saw). */
function tcpSocketOf(socket: Duplex): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? (socket as Socket);
}

export class SignalingListener implements Worker {
  private readonly wss: WebSocketServer;
  private readonly server: AnyHttpServer;
  private readonly owned: boolean;

  private draining = false;
  private readonly peerIds = new PeerIds();
  private readonly admission: Admission;
  private readonly onConnection = (socket: Socket): void => this.connected(socket);
  /** A request that timed out (handshakeTimeout: 408, counted) or could not be parsed (400), as Node answers them. */
  private readonly onClientError = (err: Error & { code?: string }, socket: Duplex): void => {
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut) this.metrics.connectionRefused('handshake_timeout');
    if (socket.writable) socket.write(timedOut ? RESPONSE_408 : err.code === 'HPE_HEADER_OVERFLOW' ? RESPONSE_431 : RESPONSE_400);
    socket.destroy();
  };
  /** A TLS handshake not finished within handshakeTimeout (Node closes the socket): counted. */
  private readonly onTlsClientError = (err: Error & { code?: string }): void => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.metrics.connectionRefused('handshake_timeout');
  };
  /** Connections that were over a cap when they connected: cut short unless an upgrade is accepted meanwhile. */
  private readonly graceTimers = new WeakMap<Socket, NodeJS.Timeout>();
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => this.request(req, res);
  private unshareTlsPort: (() => void) | null = null;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly factory: ConnectionFactory,
    private readonly registry: NameRegistry,
    private readonly logger: Logger,
    attachTo: AnyHttpServer | null,
    private readonly routes: HttpRoutes,
    private readonly metrics: Metrics,
    private readonly turnStreams: TurnStreamSink | null = null,
  ) {
    this.admission = new Admission(options);
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
    this.registry.register(SIGNALING_LISTENER_NAME, this);
    this.server.on('upgrade', this.onUpgrade);
    if (!this.owned) return this;
    this.server.on('request', this.onRequest);
    this.server.on('clientError', this.onClientError);
    this.server.on('tlsClientError', this.onTlsClientError);
    // Counted from the TCP connection on (TLS: before the handshake), so idle or half-sent upgrades count too.
    this.server.on('connection', this.onConnection);
    const turnStreams = this.turnStreams;
    if (turnStreams && this.options.tls) {
      this.unshareTlsPort = shareTlsPort(this.server as HttpsServer, {
        turn: (socket) => {
          clearTimeout(this.graceTimers.get(tcpSocketOf(socket))); // TURN's own stream caps apply from here
          turnStreams(socket);
        },
        timedOut: () => this.metrics.connectionRefused('handshake_timeout'),
        timeoutMs: this.options.handshakeTimeout,
      });
    }
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => {
        this.unshareTlsPort?.();
        this.server.off('upgrade', this.onUpgrade);
        this.registry.unregister(SIGNALING_LISTENER_NAME, this);
        reject(new ServerError(ErrorCode.LISTEN, `cannot listen on ${this.options.host}:${this.options.port}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', failed);
      this.server.listen({ port: this.options.port, host: this.options.host, backlog: listenBacklog(this.options.maxConnections) }, () => {
        this.server.off('error', failed);
        resolve();
      });
    });
    this.server.on('error', (err) => this.logger.error({ err }, 'signaling server error'));
    const { host, port } = this.address()!;
    const scheme = this.options.tls ? 'wss' : 'ws';
    this.logger.info({ listener: 'signaling', host, port, url: `${scheme}://${host}:${port}/websocket/:room` }, 'signaling listening');
    if (this.unshareTlsPort) this.logger.info({ listener: 'signaling', port, shared: 'turn' }, `TURN over TLS shares this port (turns:${host}:${port})`);
    if (this.options.example) this.logger.info({ listener: 'example', url: `${this.options.tls ? 'https' : 'http'}://${host}:${port}/` }, 'example client served');
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
    this.registry.unregister(SIGNALING_LISTENER_NAME, this);
    this.server.off('upgrade', this.onUpgrade);
    if (this.owned) {
      this.server.off('request', this.onRequest);
      this.server.off('connection', this.onConnection);
      this.server.off('clientError', this.onClientError);
      this.server.off('tlsClientError', this.onTlsClientError);
      this.unshareTlsPort?.();
      this.server.close();
      this.server.closeIdleConnections();
    }
    this.wss.close();
  }

  /**
   * Reads `certfile`/`keyfile` again and serves new TLS handshakes with them
   * (SIGHUP in the daemon, as coturn and nginx do); open connections keep
   * theirs. A file that cannot be read or does not hold a matching pair
   * leaves the current certificate in place and says why.
   */
  reloadTls(): TlsReload {
    const tls = this.options.tls;
    if (!tls) return { reloaded: false, reason: 'no certfile/keyfile configured' };
    if (!this.owned) return { reloaded: false, reason: 'attached to a server of yours: reload it there' };
    try {
      const cert = readFileSync(tls.certfile);
      const key = readFileSync(tls.keyfile);
      (this.server as HttpsServer).setSecureContext({ cert, key });
      const { validTo, fingerprint256 } = new X509Certificate(cert);
      this.logger.info({ certfile: tls.certfile, validTo, fingerprint256 }, 'TLS certificate reloaded');
      return { reloaded: true, validTo };
    } catch (err) {
      this.logger.error({ err, certfile: tls.certfile, keyfile: tls.keyfile }, 'TLS certificate not reloaded: keeping the current one');
      return { reloaded: false, reason: (err as Error).message };
    }
  }

  onExit(_listener: (reason: ExitReason) => void): void {
    // The listener only exits when stopped; server errors are logged.
  }

  /**
   * Our own server: a connection has `handshakeTimeout` to finish its TLS
   * handshake and to send its request headers (an upgrade included), then
   * gets 408 and is closed; Node checks every second at most.
   */
  private createServer(): AnyHttpServer {
    const timeout = this.options.handshakeTimeout;
    const limits = {
      headersTimeout: timeout,
      requestTimeout: timeout,
      connectionsCheckingInterval: Math.min(1000, timeout),
    };
    const tls = this.options.tls;
    const server = tls
      ? createHttpsServer({ ...limits, handshakeTimeout: timeout, cert: readFileSync(tls.certfile), key: readFileSync(tls.keyfile) })
      : createHttpServer(limits);
    // A hard ceiling on file descriptors: past it Node drops connections at accept. Below it, sockets over
    // maxConnections get 503 at their upgrade.
    server.maxConnections = Math.ceil(this.options.maxConnections * 1.1) + 100;
    return server;
  }

  /** A TCP connection to our own server: counted until it closes; one too many is cut short. */
  private connected(socket: Socket): void {
    if (this.admission.count(socket) === null) return;
    // Over a cap: it may still send its request within a second, to be told 429/503 at the upgrade.
    const timer = setTimeout(() => socket.destroy(), Math.min(OVER_LIMIT_GRACE_MS, this.options.handshakeTimeout));
    timer.unref();
    this.graceTimers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
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
    if (this.draining || !connections) {
      this.metrics.connectionRefused('draining');
      return refuseUpgrade(socket, 503);
    }
    if (!this.owned) this.admission.count(socket as Socket); // on a user's server, counted from the upgrade on
    const refusal = this.admission.check(socket as Socket, req.headers.origin);
    if (refusal) {
      this.metrics.connectionRefused(refusal.reason);
      return refuseUpgrade(socket, refusal.status);
    }
    clearTimeout(this.graceTimers.get(tcpSocketOf(socket)));
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
