/**
 * Binding TURN's listening sockets: UDP, TCP on the same port number
 * (RFC 8656 section 5; with port 0, a port free for both), and TLS on a port
 * of its own with signaling's certificate. A port that cannot be bound is a
 * `ServerError` (WRS_ERR_LISTEN) naming the transport, address and option.
 * The TCP and TLS listeners hand every connection to the stream front. No
 * node-turn.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { ErrorCode, ServerError } from '../errors.js';
import { literalLookup } from './literal-lookup.js';
import type { TurnTlsConfig } from './turn-backend.js';

/** Attempts at a port free for both UDP and TCP when any port will do. */
const PORT_PAIR_ATTEMPTS = 10;

/** What the TCP and TLS listeners do with connections. */
export interface StreamAcceptor {
  /** A new TCP connection (for TLS, before the handshake); false when refused (closed). */
  admit(socket: Socket): boolean;
  serve(socket: Socket, kind: 'tcp' | 'tls'): void;
  /** A TLS handshake that did not finish within the handshake timeout (the socket is closed). */
  handshakeTimedOut(): void;
}

function listenError(transport: string, host: string, port: number, option: string, err: unknown): ServerError {
  const code = (err as NodeJS.ErrnoException).code;
  return new ServerError(ErrorCode.LISTEN, `cannot listen on ${transport}://${host}:${port} (${option}): ${code ?? (err as Error).message}`, { option, cause: err });
}

/** The errno code of a listen error (through a ServerError's cause). */
export function listenErrorCode(err: unknown): string | undefined {
  const cause = err instanceof ServerError ? (err as Error & { cause?: unknown }).cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * UDP on `port`; with `reusePort` (a relay thread) in the SO_REUSEPORT group
 * of the other threads' sockets on the same port (Node >= 22.12; @types/node
 * 20 does not know the option yet).
 */
export function bindUdp(host: string, port: number, reusePort = false): Promise<UdpSocket> {
  const socket = createSocket(reusePort ? ({ type: 'udp4', reusePort: true, lookup: literalLookup } as Parameters<typeof createSocket>[0]) : { type: 'udp4', lookup: literalLookup });
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(listenError('udp', host, port, 'turnPort', err));
    });
    // mends "listeningPort: 0 means 3478": we bind what we are given
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

function listen<S extends TcpServer>(server: S, host: string, port: number, transport: string, option: string): Promise<S> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenError(transport, host, port, option, err)));
    server.listen({ host, port, exclusive: true }, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

function tcpServer(streams: StreamAcceptor): TcpServer {
  return createTcpServer({ noDelay: true }, (socket) => {
    if (streams.admit(socket)) streams.serve(socket, 'tcp');
  });
}

/**
 * UDP on `port`, and TCP on the same number when `tcp`. With port 0 a pair
 * free for both is searched (a few attempts).
 */
export async function bindUdpAndTcp(host: string, port: number, tcp: boolean, streams: StreamAcceptor, reusePort = false): Promise<{ udp: UdpSocket; tcp: TcpServer | null }> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(host, port, reusePort);
    if (!tcp) return { udp, tcp: null };
    try {
      return { udp, tcp: await listen(tcpServer(streams), host, udp.address().port, 'tcp', 'turnPort') };
    } catch (err) {
      udp.close();
      if (port !== 0 || listenErrorCode(err) !== 'EADDRINUSE' || attempt >= PORT_PAIR_ATTEMPTS) throw err;
    }
  }
}

/** TURN over TCP alone on `port` (the relay threads serve its UDP). */
export function listenTcp(host: string, port: number, streams: StreamAcceptor): Promise<TcpServer> {
  return listen(tcpServer(streams), host, port, 'tcp', 'turnPort');
}

/** TURN over TLS on `config.port`: handshakes bounded by `handshakeTimeoutMs`, counted from the TCP connection. */
export function listenTls(host: string, config: TurnTlsConfig, handshakeTimeoutMs: number, streams: StreamAcceptor): Promise<TlsServer> {
  const server = createTlsServer({ cert: config.cert, key: config.key, handshakeTimeout: handshakeTimeoutMs });
  // counted before the handshake: slow or idle handshakes take a slot until they time out
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    streams.admit(socket);
  });
  server.on('secureConnection', (socket: TLSSocket) => streams.serve(socket, 'tls'));
  // Node only reports a handshake timeout ('tlsClientError'): closing the socket is ours to do
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') streams.handshakeTimedOut();
    socket.destroy();
  });
  return listen(server, host, config.port, 'tls', 'turnTlsPort');
}
