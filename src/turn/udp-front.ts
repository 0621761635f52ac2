/**
 * The UDP front: replaces node-turn's `network` on the listening socket.
 * Refuses oversized messages from their header alone and CreatePermissions
 * with too many peers before any per-peer work, parses datagrams with our
 * RFC 5769 tested codec, answers 420 (mends #7), lets the request guard
 * decide on each request (request-guard.ts: credentials, guess throttle,
 * unauthenticated answer budget), relays client ChannelData (mends #5) and
 * peer data back to the client, and sends every datagram the adapter writes
 * itself. Part of the node-turn adapter (see node-turn-backend.ts).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnMessage from 'node-turn/lib/message.js';
import NodeTurnTransport from 'node-turn/lib/transport.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { AdapterContext } from './adapter-context.js';
import { toEngineMessage } from './engine-message.js';
import type { IntegrityVerdict } from './engine-message.js';
import { UDP } from './node-turn-engine.js';
import type { EngineMessage } from './node-turn-engine.js';
import type { NonceIssuer } from './nonce.js';
import type { RelayAllocation } from './relay-allocation.js';
import { RequestGuard } from './request-guard.js';
import {
  Attr, checkFingerprint, decodeChannelData, decodeStun, decodeStunHeader, encodeChannelData, encodeErrorCode,
  encodeStun, encodeUnknownAttributes, encodeXorAddress, looksLikeChannelData, messageType, newTransactionId,
  StunClass, StunMethod, unknownRequiredAttributes,
} from './stun.js';
import type { StunMessage } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';

/** Attribute types node-turn's own parser knows. */
const ENGINE_ATTRIBUTES: ReadonlySet<number> = new Set(Object.values(CONSTANTS.ATTR));

/** The message type of a Send indication, the only message allowed past `maxMessageBytes` (it carries relayed DATA). */
const SEND_INDICATION = messageType(StunMethod.SEND, StunClass.INDICATION);

export class UdpFront {
  private socket: Socket | null = null;
  private dst: NodeTurnAddress | null = null;
  private readonly guard: RequestGuard;

  constructor(
    private readonly ctx: AdapterContext,
    nonces: NonceIssuer,
  ) {
    this.guard = new RequestGuard(ctx, nonces);
  }

  /** Takes over the bound listening socket from node-turn's network. */
  listen(socket: Socket): void {
    const { address, port } = socket.address();
    this.socket = socket;
    this.dst = new NodeTurnAddress(address, port);
    this.ctx.engine.listeningPort = port;
    this.ctx.engine.network.sockets = [socket];
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
  }

  /** Sends nothing more (the backend closes the socket). */
  close(): void {
    this.socket = null;
  }


  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    if (!this.ctx.running) return;
    try {
      if (looksLikeChannelData(buf) && this.ctx.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) {
        this.fromClientChannelData(buf, rinfo);
        return;
      }
      const large = buf.length > this.ctx.limits.maxMessageBytes;
      if (large && !this.largeAllowed(buf, rinfo)) return;
      const m = decodeStun(buf, large ? this.ctx.limits.maxSendAttributes : Infinity);
      if (!m) {
        if (!this.ctx.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) this.engineRead(buf, rinfo);
        return;
      }
      if (checkFingerprint(m) === 'invalid') return;
      if (!this.ctx.isMended(NodeTurnDefect.UNKNOWN_ATTRIBUTES) && m.attributes.some((a) => !ENGINE_ATTRIBUTES.has(a.type))) {
        this.engineRead(buf, rinfo); // node-turn's parser: throws on any attribute it does not know
        return;
      }
      if (m.cls === StunClass.REQUEST) {
        const unknown = unknownRequiredAttributes(m);
        if (unknown.length > 0) {
          this.replyUnknownAttributes(m, rinfo, unknown);
          return;
        }
        if (m.method === StunMethod.CREATE_PERMISSION && this.tooManyPeers(m)) {
          this.ctx.events.refused('too_many_peers');
          this.sendError(m.method, m.transactionId, rinfo, 400, 'Bad Request', checkFingerprint(m) === 'valid');
          return;
        }
      } else if (m.cls === StunClass.INDICATION) {
        if (unknownRequiredAttributes(m).length > 0) return; // RFC 5389 section 7.3.2: discard
      } else {
        return; // responses: this server sends no requests
      }
      this.handle(m, rinfo, false);
    } catch (err) {
      this.ctx.logger.debug({ err, from: `${rinfo.address}:${rinfo.port}` }, 'TURN datagram dropped');
    }
  }

  /** node-turn's own network path (used only when a parser mend is switched off). */
  private engineRead(buf: Buffer, rinfo: RemoteInfo): void {
    const msg = new NodeTurnMessage(this.ctx.engine, this.transportFrom(rinfo));
    if (msg.read(buf)) this.ctx.engine.emit('message', msg);
  }

  /**
   * Too big for anything but a Send indication (RFC 8489 section 6.1: STUN
   * over UDP fits the path MTU): refused from its 20-byte header, before any
   * attribute is decoded, any HMAC or peer check; a request gets 400 (smaller
   * than what it sent). True for a Send indication (decoded with at most
   * `maxSendAttributes` attributes).
   */
  private largeAllowed(buf: Buffer, rinfo: RemoteInfo): boolean {
    if (buf.readUInt16BE(0) === SEND_INDICATION) return true;
    this.ctx.events.refused('too_large');
    const header = decodeStunHeader(buf);
    if (header?.cls === StunClass.REQUEST) this.sendError(header.method, header.transactionId, rinfo, 400, 'Bad Request', false);
    return false;
  }

  /** More XOR-PEER-ADDRESS attributes than `maxPeersPerRequest` (counted, none decoded). */
  private tooManyPeers(m: StunMessage): boolean {
    let peers = 0;
    for (const a of m.attributes) if (a.type === Attr.XOR_PEER_ADDRESS && ++peers > this.ctx.limits.maxPeersPerRequest) return true;
    return false;
  }

  /**
   * Requests other than Binding go through the request guard: delivered now,
   * once their password has been looked up (`looked`), or dropped.
   */
  private handle(m: StunMessage, rinfo: RemoteInfo, looked: boolean): void {
    const transport = this.transportFrom(rinfo);
    if (m.cls !== StunClass.REQUEST || m.method === StunMethod.BINDING) {
      this.deliver(m, transport, rinfo, 'unchecked');
      return;
    }
    const allocated = this.ctx.engine.allocations[transport.get5Tuple()] !== undefined;
    const verdict = this.guard.check(m, rinfo, allocated, looked);
    if (verdict === null) return;
    if (typeof verdict === 'string') {
      this.deliver(m, transport, rinfo, verdict);
      return;
    }
    verdict.then((answered) => {
      if (!this.ctx.running) return;
      if (answered) this.handle(m, rinfo, true);
      else this.guard.lookupTimedOut(m, rinfo);
    }, () => {});
  }

  private deliver(m: StunMessage, transport: NodeTurnTransport, rinfo: RemoteInfo, integrity: IntegrityVerdict): void {
    if (!this.ctx.running) return;
    let msg: EngineMessage;
    try {
      msg = toEngineMessage(this.ctx.engine, m, transport, integrity);
    } catch {
      if (m.cls === StunClass.REQUEST) this.sendError(m.method, m.transactionId, rinfo, 400, 'Bad Request', checkFingerprint(m) === 'valid');
      return;
    }
    try {
      this.ctx.engine.emit('message', msg);
    } catch (err) {
      this.ctx.logger.warn({ err, from: `${rinfo.address}:${rinfo.port}` }, 'TURN message failed');
    }
  }

  private transportFrom(rinfo: RemoteInfo): NodeTurnTransport {
    return new NodeTurnTransport(UDP, new NodeTurnAddress(rinfo.address, rinfo.port), this.dst!, this.socket!);
  }

  /** 420 with UNKNOWN-ATTRIBUTES (RFC 5389 section 7.3.1; mends #7). */
  private replyUnknownAttributes(m: StunMessage, rinfo: RemoteInfo, unknown: number[]): void {
    this.sendError(m.method, m.transactionId, rinfo, 420, 'Unknown Attribute', checkFingerprint(m) === 'valid', [
      [Attr.UNKNOWN_ATTRIBUTES, encodeUnknownAttributes(unknown)],
    ]);
  }

  private sendError(
    method: number, transactionId: Buffer, rinfo: RemoteInfo, code: number, reason: string, fingerprint: boolean, extra: [number, Buffer][] = [],
  ): void {
    const out = encodeStun(method, StunClass.ERROR, transactionId, [
      [Attr.ERROR_CODE, encodeErrorCode(code, reason)],
      ...extra,
      [Attr.SOFTWARE, Buffer.from(this.ctx.software)],
    ], { fingerprint });
    this.sendTo(out, rinfo.address, rinfo.port);
  }

  private sendTo(out: Buffer, address: string, port: number): void {
    const socket = this.socket;
    if (!socket || !this.ctx.running) return;
    socket.send(out, port, address, this.onSent);
  }

  // ------------------------------------------------------------- data paths

  /** Client -> peer ChannelData (RFC 8656 section 12.6; mends #5). */
  private fromClientChannelData(buf: Buffer, rinfo: RemoteInfo): void {
    const allocation = this.ctx.engine.allocations[this.transportFrom(rinfo).get5Tuple()] as RelayAllocation | undefined;
    const frame = decodeChannelData(buf);
    if (!allocation || !frame) return;
    const peer = allocation.channelBindings[frame.channel];
    if (!peer || !allocation.channelLive(frame.channel) || !allocation.permitted(peer.address)) return;
    if (this.ctx.isMended(NodeTurnDefect.PEER_FILTER) && !this.peerAllowed(peer)) return;
    this.ctx.relayed(frame.data.length);
    allocation.socket.send(frame.data, peer.port, peer.address, this.onRelaySent);
  }

  /** The peer filter's verdict on a channel's peer, computed once per binding (ChannelData runs per packet). */
  private peerAllowed(peer: { address: string; port: number }): boolean {
    let allowed = this.channelPeerVerdicts.get(peer);
    if (allowed === undefined) {
      allowed = this.ctx.config.peerFilter.checkDestination(peer.address, peer.port) === 'allowed';
      this.channelPeerVerdicts.set(peer, allowed);
    }
    return allowed;
  }

  private readonly channelPeerVerdicts = new WeakMap<object, boolean>();
  private readonly onRelaySent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ err }, 'TURN relay send failed');
  };
  private readonly onSent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ err }, 'TURN send failed');
  };

  /** Peer -> client: ChannelData when a channel is bound, else a Data indication (RFC 8656 section 11.6). */
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void {
    if (!this.ctx.running || allocation.ended || !allocation.permitted(rinfo.address)) return;
    const client = allocation.transport.dst;
    const channel = allocation.channelFor(rinfo.address, rinfo.port);
    this.ctx.relayed(data.length);
    if (channel !== undefined) {
      this.sendTo(encodeChannelData(channel, data), client.address, client.port);
      return;
    }
    const id = newTransactionId();
    this.sendTo(encodeStun(StunMethod.DATA, StunClass.INDICATION, id, [
      [Attr.XOR_PEER_ADDRESS, encodeXorAddress({ address: rinfo.address, port: rinfo.port }, id)],
      [Attr.DATA, data],
    ]), client.address, client.port);
  }
}
