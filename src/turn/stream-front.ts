/**
 * The stream front: TURN over TCP and over TLS (RFC 8656 section 5: the
 * client-to-server transport is a stream, relays stay UDP). Each stream is
 * one 5-tuple, so at most one allocation (stream-link.ts); its frames
 * (stream-framer.ts) go through the same message intake as datagrams (the
 * same guard, limits, engine and mends), and its allocation ends when the
 * stream closes. Part of the node-turn adapter (see node-turn-backend.ts).
 *
 * Hostile streams are bounded here: streams in all and per IP
 * (stream-admission.ts, counted before a TLS handshake), one partial frame
 * each, a stream that cannot be framed closed at once, ChannelData before
 * any allocation closed (it can only be garbage: RFC 8656 section 12.4
 * needs a channel bound first), a stream without an allocation closed after
 * `streamIdleMs`, bounded writes (stream-link.ts). A stream's error never
 * reaches its listener.
 */
import type { Socket } from 'node:net';
import type { AdapterContext } from './adapter-context.js';
import type { MessageIntake } from './message-intake.js';
import type { RelayAllocation } from './relay-allocation.js';
import { StreamAdmission } from './stream-admission.js';
import { StreamFramer } from './stream-framer.js';
import type { FramingError } from './stream-framer.js';
import { plainAddress, StreamLink } from './stream-link.js';
import type { StreamKind } from './stream-link.js';
import { looksLikeChannelData } from './stun.js';

export class StreamFront {
  readonly admission: StreamAdmission;
  private readonly links = new Set<StreamLink>();
  private readonly events: { backlog(dropped: 'data' | 'stream'): void };

  constructor(
    private readonly ctx: AdapterContext,
    private readonly intake: MessageIntake,
  ) {
    const limits = ctx.limits;
    this.admission = new StreamAdmission(limits.streamMaxConnections, limits.streamMaxPerIp);
    this.events = { backlog: () => ctx.events.refused('stream_backlog') };
  }

  /** Streams open (handshakes in progress included). */
  get streams(): number {
    return this.admission.size;
  }

  /**
   * A new TCP connection (for TLS: before its handshake). False when it is
   * over a cap: it has been closed.
   */
  admit(socket: Socket): boolean {
    if (!this.ctx.running) {
      socket.destroy();
      return false;
    }
    if (this.admission.admit(socket)) return true;
    this.ctx.events.refused('stream_limit');
    socket.destroy();
    return false;
  }

  /** A TLS handshake that did not finish in time (the TLS server closed it). */
  handshakeTimedOut(): void {
    this.ctx.events.refused('stream_timeout');
  }

  /** Serves an admitted `socket` (TCP, or TLS once its handshake is done) as a TURN client stream. */
  serve(socket: Socket, kind: StreamKind): void {
    if (!this.ctx.running) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const local = { address: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
    let link: StreamLink;
    try {
      link = new StreamLink(socket, kind, local, this.ctx.limits.streamMaxPendingBytes, this.events);
    } catch {
      socket.destroy(); // an address node-turn cannot represent
      return;
    }
    this.links.add(link);
    const framer = new StreamFramer({
      frame: (frame) => this.onFrame(link, framer, frame),
      invalid: (reason) => this.invalid(link, reason),
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    const idle = setTimeout(() => this.idleCheck(link, idle), this.ctx.limits.streamIdleMs);
    idle.unref();
    socket.once('close', () => {
      clearTimeout(idle);
      framer.close();
      this.links.delete(link);
      this.streamClosed(link);
    });
  }

  /** On stop: every stream is closed (its allocation went with the table). */
  closeAll(): void {
    for (const link of [...this.links]) link.destroy();
    this.links.clear();
  }

  private onFrame(link: StreamLink, framer: StreamFramer, frame: Buffer): void {
    if (!this.ctx.running || link.closed) {
      framer.close();
      return;
    }
    if (looksLikeChannelData(frame) && this.ctx.engine.allocations[link.fiveTuple] === undefined) {
      framer.close();
      this.invalid(link, 'channel_data_unallocated');
      return;
    }
    this.intake.receive(frame, link.transport);
  }

  private invalid(link: StreamLink, reason: FramingError | 'channel_data_unallocated'): void {
    this.ctx.events.refused('stream_invalid');
    this.ctx.logger.debug({ from: `${link.source.address}:${link.source.port}`, transport: link.kind, reason }, 'TURN stream closed: cannot be framed');
    link.destroy();
  }

  /** Every `streamIdleMs`: a stream holding an allocation is kept, one without is closed. */
  private idleCheck(link: StreamLink, timer: NodeJS.Timeout): void {
    if (link.closed) return;
    if (this.ctx.engine.allocations[link.fiveTuple] !== undefined) {
      timer.refresh();
      return;
    }
    this.ctx.events.refused('stream_timeout');
    link.destroy();
  }

  /** RFC 8656 section 5: over a stream, the allocation ends with its connection. */
  private streamClosed(link: StreamLink): void {
    if (!this.ctx.running) return;
    const allocation = this.ctx.engine.allocations[link.fiveTuple] as RelayAllocation | undefined;
    allocation?.end('stream closed');
  }
}
