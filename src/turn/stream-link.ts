/**
 * One client stream (TCP or TLS) as node-turn's transport sees it: the
 * `socket` its answers are sent on, and the 5-tuple its allocation is keyed
 * by (RFC 8656 section 2: over TCP the 5-tuple is the connection itself, so
 * one stream holds at most one allocation). Part of the node-turn adapter
 * (see node-turn-backend.ts).
 *
 * Writes are bounded: relayed data (ChannelData, Data indications) for a
 * client that does not read is dropped past `maxPendingBytes` waiting to be
 * sent (media over TURN tolerates loss, as over UDP); anything else past
 * twice that means the client reads nothing at all, and the stream is
 * destroyed. Over TCP, the writes of one event-loop tick leave in one
 * socket write, as signaling's write coalescer does. Over TLS each frame is
 * a TLS record of its own (as coturn sends them; frames waiting behind a
 * write are not gathered either): clients that take one record for one
 * message (coturn's turnutils_uclient does) would lose every frame but the
 * first of a coalesced record.
 */
import type { Socket } from 'node:net';
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnTransport from 'node-turn/lib/transport.js';
import { messageType, StunClass, StunMethod } from './stun.js';

/** TCP in node-turn's numbering (IANA protocol 6); node-turn itself knows only UDP. */
export const TCP = 6;

const DATA_INDICATION = messageType(StunMethod.DATA, StunClass.INDICATION);

/** True for what the relay sends a client: ChannelData or a Data indication. */
function isRelayedData(msg: Buffer): boolean {
  return (msg[0]! & 0xc0) === 0x40 || (msg.length >= 2 && msg.readUInt16BE(0) === DATA_INDICATION);
}

export type StreamKind = 'tcp' | 'tls';

/** An IPv4 address as a dual-stack socket reports it (`::ffff:a.b.c.d`) becomes plain IPv4. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '0.0.0.0';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** What a stream link reports: data dropped for a slow reader, a stream destroyed for not reading at all. */
export interface StreamLinkEvents {
  backlog(dropped: 'data' | 'stream'): void;
}

/**
 * node-turn's Transport for a stream: a 5-tuple key computed once and
 * marked with the transport (node-turn's own marks only UDP), so that a TCP,
 * a TLS and a UDP client can never share an allocation.
 */
class StreamTransport extends NodeTurnTransport {
  constructor(
    private readonly key: string,
    src: NodeTurnAddress,
    dst: NodeTurnAddress,
    link: StreamLink,
  ) {
    super(TCP, src, dst, link);
  }

  override get5Tuple(): string {
    return this.key;
  }
}

export class StreamLink implements NodeTurnTransport.ClientSocket {
  readonly transport: NodeTurnTransport;
  readonly fiveTuple: string;
  readonly source: { address: string; port: number };
  private corked = false;
  private ended = false;

  constructor(
    readonly socket: Socket,
    readonly kind: StreamKind,
    local: { address: string; port: number },
    private readonly maxPendingBytes: number,
    private readonly events: StreamLinkEvents,
  ) {
    const src = new NodeTurnAddress(plainAddress(socket.remoteAddress), socket.remotePort ?? 0);
    const dst = new NodeTurnAddress(local.address, local.port);
    this.source = { address: src.address, port: src.port };
    this.fiveTuple = `${kind.toUpperCase()}://${src.address}:${src.port}>${dst.address}:${dst.port}`;
    this.transport = new StreamTransport(this.fiveTuple, src, dst, this);
    // Frames queued behind a write in progress are written one by one, not gathered (`_writev`) into one record.
    if (kind === 'tls') socket._writev = undefined;
  }

  /** True once the stream has closed or is closing: nothing more is sent, no allocation is made for it. */
  get closed(): boolean {
    return this.ended || this.socket.destroyed;
  }

  /** node-turn's `socket.send(msg, port, address, cb)`: one frame onto the stream (the port and address are the stream's). */
  send(msg: Buffer, _port?: number, _address?: string, callback?: (err: Error | null) => void): void {
    if (this.closed) {
      callback?.(new Error('stream closed'));
      return;
    }
    const pending = this.socket.writableLength;
    if (pending > this.maxPendingBytes) {
      if (isRelayedData(msg)) {
        this.events.backlog('data');
        callback?.(null);
        return;
      }
      if (pending > 2 * this.maxPendingBytes) {
        this.events.backlog('stream');
        this.destroy();
        callback?.(new Error('client does not read'));
        return;
      }
    }
    if (!this.corked && this.kind === 'tcp') {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(msg);
    callback?.(null);
  }

  /**
   * A request was dropped unanswered: over a stream the client would wait
   * for an answer that never comes (it does not retransmit, RFC 8489
   * section 6.2.2), so the stream ends once what was written has left.
   */
  dropped(): void {
    this.end();
  }

  /** Sends nothing more, lets what was written go out first, then closes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end(() => this.socket.destroy());
  }

  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
}
