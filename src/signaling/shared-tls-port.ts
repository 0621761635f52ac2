/**
 * One TLS port for signaling and TURN (`turnTlsPort` equal to `port`): after
 * the TLS handshake, the first bytes the client sends tell a TURN client from
 * an HTTP one, with no proxy in front. A TURN client over a stream always
 * starts with a STUN message (an Allocate or a Binding: RFC 8656 section 5;
 * ChannelData needs a channel bound first), whose first two bits are 0 and
 * whose bytes 4-8 are the magic cookie 0x2112A442 (RFC 8489 section 5). An
 * HTTP request starts with a method in ASCII letters (`G` is 0x47), so its
 * first byte already says it is not STUN. ALPN is not needed (browsers send
 * none for TURN).
 *
 * Bounded: at most 8 bytes are held per connection, for at most
 * `timeoutMs` (the signaling `handshakeTimeout`); a client that sends
 * nothing in time is closed. The bytes read are put back (`unshift`) before
 * the socket is handed over, so either side reads the stream from its
 * first byte.
 */
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { MAGIC_COOKIE } from '../turn/stun.js';

/** Bytes needed to tell STUN (the magic cookie ends at byte 8). */
const PEEK_BYTES = 8;

export type FirstBytes = 'turn' | 'http';

/** What the first bytes of a stream are, or null while too few have come to tell. */
export function classifyFirstBytes(head: Buffer): FirstBytes | null {
  if (head.length === 0) return null;
  if ((head[0]! & 0xc0) !== 0) return 'http';
  if (head.length < PEEK_BYTES) return null;
  return head.readUInt32BE(4) === MAGIC_COOKIE ? 'turn' : 'http';
}

export interface SharedPortSides {
  /** A TURN client's stream (its bytes put back). */
  turn(socket: TLSSocket): void;
  /** A client that sent nothing to tell within the deadline (it is closed). */
  timedOut(): void;
  timeoutMs: number;
}

/**
 * Makes `server` (an https server, whose own 'secureConnection' listener is
 * HTTP's) hand every TLS connection to HTTP or to `sides.turn` by its first
 * bytes. Returns a function that restores HTTP's listener.
 */
export function shareTlsPort(server: TlsServer, sides: SharedPortSides): () => void {
  const http = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  const toHttp = (socket: TLSSocket): void => {
    for (const listener of http) listener.call(server, socket);
  };
  const demux = (socket: TLSSocket): void => peek(socket, sides, toHttp);
  server.on('secureConnection', demux);
  return () => {
    server.off('secureConnection', demux);
    for (const listener of http) server.on('secureConnection', listener);
  };
}

function peek(socket: TLSSocket, sides: SharedPortSides, toHttp: (socket: TLSSocket) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const onError = (): void => {
    socket.destroy();
  };
  const timer = setTimeout(() => {
    cleanup();
    sides.timedOut();
    socket.destroy();
  }, sides.timeoutMs);
  timer.unref();
  const cleanup = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', cleanup);
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = classifyFirstBytes(head);
    if (kind === null) return;
    cleanup();
    socket.pause();
    socket.unshift(head);
    // Handed over once the reads in progress have been queued behind `head`, in order: HTTP's parser
    // takes the socket's reads over from then on.
    setImmediate(() => {
      if (socket.destroyed) return;
      socket.off('error', onError);
      if (kind === 'turn') sides.turn(socket);
      else toHttp(socket);
      socket.resume();
    });
  };
  socket.on('error', onError);
  socket.on('close', cleanup);
  socket.on('data', onData);
}
