/**
 * One message from a client, whatever its transport (a UDP datagram, or one
 * frame of a TCP/TLS stream): the same checks on every front. Refuses
 * oversized messages from their header alone and CreatePermissions with too
 * many peers before any per-peer work, parses with our RFC 5769 tested
 * codec, answers 420 (mends #7), lets the request guard decide on each
 * request (request-guard.ts: credentials, guess throttle, unauthenticated
 * answer budget), hands client ChannelData to the relay path (mends #5), and
 * delivers the rest to node-turn's engine on the client's transport, where
 * its answers go. Part of the node-turn adapter (see node-turn-backend.ts).
 */
import NodeTurnMessage from 'node-turn/lib/message.js';
import type NodeTurnTransport from 'node-turn/lib/transport.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { AdapterContext } from './adapter-context.js';
import { toEngineMessage } from './engine-message.js';
import type { IntegrityVerdict } from './engine-message.js';
import type { EngineMessage } from './node-turn-engine.js';
import type { NonceIssuer } from './nonce.js';
import type { RelayAllocation } from './relay-allocation.js';
import type { RelayPath } from './relay-path.js';
import { RequestGuard } from './request-guard.js';
import {
  Attr, checkFingerprint, decodeStun, decodeStunHeader, encodeErrorCode, encodeStun, encodeUnknownAttributes,
  looksLikeChannelData, messageType, StunClass, StunMethod, unknownRequiredAttributes,
} from './stun.js';
import type { StunMessage } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';

/** Attribute types node-turn's own parser knows. */
const ENGINE_ATTRIBUTES: ReadonlySet<number> = new Set(Object.values(CONSTANTS.ATTR));

/** The message type of a Send indication, the only message allowed past `maxMessageBytes` (it carries relayed DATA). */
const SEND_INDICATION = messageType(StunMethod.SEND, StunClass.INDICATION);

export class MessageIntake {
  readonly guard: RequestGuard;

  constructor(
    private readonly ctx: AdapterContext,
    nonces: NonceIssuer,
    private readonly relay: RelayPath,
  ) {
    this.guard = new RequestGuard(ctx, nonces);
  }

  /** One message from the client at `transport.src`; answers go out on `transport.socket`. */
  receive(buf: Buffer, transport: NodeTurnTransport): void {
    if (!this.ctx.running) return;
    try {
      if (looksLikeChannelData(buf) && this.ctx.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) {
        this.relay.fromClient(buf, this.ctx.engine.allocations[transport.get5Tuple()] as RelayAllocation | undefined);
        return;
      }
      const large = buf.length > this.ctx.limits.maxMessageBytes;
      if (large && !this.largeAllowed(buf, transport)) return;
      const m = decodeStun(buf, large ? this.ctx.limits.maxSendAttributes : Infinity);
      if (!m) {
        if (!this.ctx.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) this.engineRead(buf, transport);
        return;
      }
      if (checkFingerprint(m) === 'invalid') return;
      if (!this.ctx.isMended(NodeTurnDefect.UNKNOWN_ATTRIBUTES) && m.attributes.some((a) => !ENGINE_ATTRIBUTES.has(a.type))) {
        this.engineRead(buf, transport); // node-turn's parser: throws on any attribute it does not know
        return;
      }
      if (m.cls === StunClass.REQUEST) {
        const unknown = unknownRequiredAttributes(m);
        if (unknown.length > 0) {
          this.replyUnknownAttributes(m, transport, unknown);
          return;
        }
        if (m.method === StunMethod.CREATE_PERMISSION && this.tooManyPeers(m)) {
          this.ctx.events.refused('too_many_peers');
          this.sendError(m.method, m.transactionId, transport, 400, 'Bad Request', checkFingerprint(m) === 'valid');
          return;
        }
      } else if (m.cls === StunClass.INDICATION) {
        if (unknownRequiredAttributes(m).length > 0) return; // RFC 5389 section 7.3.2: discard
      } else {
        return; // responses: this server sends no requests
      }
      this.handle(m, transport, false);
    } catch (err) {
      this.ctx.logger.debug({ err, from: transport.src.toString() }, 'TURN message dropped');
    }
  }

  /** node-turn's own parser (used only when a parser mend is switched off). */
  private engineRead(buf: Buffer, transport: NodeTurnTransport): void {
    const msg = new NodeTurnMessage(this.ctx.engine, transport);
    if (msg.read(buf)) this.ctx.engine.emit('message', msg);
  }

  /**
   * Too big for anything but a Send indication (RFC 8489 section 6.1: STUN
   * over UDP fits the path MTU; the same limit holds on streams): refused
   * from its 20-byte header, before any attribute is decoded, any HMAC or
   * peer check; a request gets 400 (smaller than what it sent). True for a
   * Send indication (decoded with at most `maxSendAttributes` attributes).
   */
  private largeAllowed(buf: Buffer, transport: NodeTurnTransport): boolean {
    if (buf.readUInt16BE(0) === SEND_INDICATION) return true;
    this.ctx.events.refused('too_large');
    const header = decodeStunHeader(buf);
    if (header?.cls === StunClass.REQUEST) this.sendError(header.method, header.transactionId, transport, 400, 'Bad Request', false);
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
  private handle(m: StunMessage, transport: NodeTurnTransport, looked: boolean): void {
    if (m.cls !== StunClass.REQUEST || m.method === StunMethod.BINDING) {
      this.deliver(m, transport, 'unchecked');
      return;
    }
    const allocated = this.ctx.engine.allocations[transport.get5Tuple()] !== undefined;
    const verdict = this.guard.check(m, transport.src, allocated, looked);
    if (verdict === null) {
      this.dropped(transport);
      return;
    }
    if (typeof verdict === 'string') {
      this.deliver(m, transport, verdict);
      return;
    }
    verdict.then((answered) => {
      if (!this.ctx.running || transport.socket.closed === true) return;
      if (answered) this.handle(m, transport, true);
      else {
        this.guard.lookupTimedOut(m, transport.src);
        this.dropped(transport);
      }
    }, () => {});
  }

  /**
   * A request dropped unanswered (a budget, the guess throttle, a busy or
   * slow lookup): a UDP client retransmits later (RFC 8489 section 6.2.1);
   * a stream client never does (section 6.2.2), so its stream is closed
   * rather than left waiting.
   */
  private dropped(transport: NodeTurnTransport): void {
    transport.socket.dropped?.();
  }

  private deliver(m: StunMessage, transport: NodeTurnTransport, integrity: IntegrityVerdict): void {
    if (!this.ctx.running) return;
    let msg: EngineMessage;
    try {
      msg = toEngineMessage(this.ctx.engine, m, transport, integrity);
    } catch {
      if (m.cls === StunClass.REQUEST) this.sendError(m.method, m.transactionId, transport, 400, 'Bad Request', checkFingerprint(m) === 'valid');
      return;
    }
    try {
      this.ctx.engine.emit('message', msg);
    } catch (err) {
      this.ctx.logger.warn({ err, from: transport.src.toString() }, 'TURN message failed');
    }
  }

  /** 420 with UNKNOWN-ATTRIBUTES (RFC 5389 section 7.3.1; mends #7). */
  private replyUnknownAttributes(m: StunMessage, transport: NodeTurnTransport, unknown: number[]): void {
    this.sendError(m.method, m.transactionId, transport, 420, 'Unknown Attribute', checkFingerprint(m) === 'valid', [
      [Attr.UNKNOWN_ATTRIBUTES, encodeUnknownAttributes(unknown)],
    ]);
  }

  private sendError(
    method: number, transactionId: Buffer, transport: NodeTurnTransport, code: number, reason: string, fingerprint: boolean, extra: [number, Buffer][] = [],
  ): void {
    if (!this.ctx.running) return;
    const out = encodeStun(method, StunClass.ERROR, transactionId, [
      [Attr.ERROR_CODE, encodeErrorCode(code, reason)],
      ...extra,
      [Attr.SOFTWARE, Buffer.from(this.ctx.software)],
    ], { fingerprint });
    transport.socket.send(out, transport.src.port, transport.src.address, this.onSent);
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ err }, 'TURN send failed');
  };
}
