/**
 * A node-turn Message built from our RFC 5769 tested decoding, carrying the
 * MESSAGE-INTEGRITY verdict the request guard reached (request-guard.ts: in
 * constant time, once, and only when the engine will rely on it). Part of
 * the node-turn adapter (see node-turn-backend.ts).
 */
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnAttribute from 'node-turn/lib/attribute.js';
import NodeTurnMessage from 'node-turn/lib/message.js';
import type NodeTurnTransport from 'node-turn/lib/transport.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { EngineMessage, EngineServer } from './node-turn-engine.js';
import { Attr, decodeXorAddress, ipv6Words } from './stun.js';
import type { StunMessage } from './stun.js';

/** node-turn's Message state for a received message. */
const STATE_INCOMING = 4;

/**
 * What MESSAGE-INTEGRITY the engine sees: 'valid' and 'invalid' as checked;
 * 'unchecked' when the engine answers before relying on it (no username,
 * stale nonce, no allocation, Binding, indications), shown as present.
 */
export type IntegrityVerdict = 'valid' | 'invalid' | 'unchecked';

/**
 * A node-turn Message built from our decoding: node-turn's own parser throws
 * on any attribute it does not know (even comprehension-optional ones),
 * reads past the message length and compares HMACs as strings. Throws when
 * an attribute is malformed.
 */
export function toEngineMessage(engine: EngineServer, m: StunMessage, transport: NodeTurnTransport, integrity: IntegrityVerdict): EngineMessage {
  const msg: EngineMessage = new NodeTurnMessage(engine, transport);
  msg._state = STATE_INCOMING;
  msg.class = m.cls;
  msg.method = m.method;
  msg.magicCookie = CONSTANTS.MAGIC_COOKIE;
  msg.transactionID = m.transactionId.toString('hex');
  msg.stun = m;
  let afterIntegrity = false;
  for (const a of m.attributes) {
    if (afterIntegrity && a.type !== Attr.FINGERPRINT) continue; // RFC 5389 section 15.4
    const value = attributeValue(m, a.type, a.value, integrity);
    if (value === undefined) continue;
    const attr = new NodeTurnAttribute(msg);
    attr.type = a.type;
    attr.length = a.value.length;
    attr.padding = (4 - (a.value.length % 4)) % 4;
    attr.value = value;
    msg.attributes.push(attr);
    msg.length += 4 + attr.length + attr.padding;
    if (a.type === Attr.MESSAGE_INTEGRITY) afterIntegrity = true;
  }
  return msg;
}

/** The value node-turn expects for an attribute; undefined to leave it out; throws when malformed. */
function attributeValue(m: StunMessage, type: number, value: Buffer, integrity: IntegrityVerdict): unknown {
  switch (type) {
    case Attr.USERNAME:
    case Attr.REALM:
    case Attr.NONCE:
    case Attr.SOFTWARE:
      return value.toString('utf8');
    case Attr.MESSAGE_INTEGRITY:
      // node-turn: false is "present but wrong" (401)
      return integrity === 'invalid' ? false : value.toString('hex');
    case Attr.FINGERPRINT:
      return value.readUInt32BE(0);
    case Attr.CHANNEL_NUMBER:
      return value.readUInt16BE(0);
    case Attr.LIFETIME:
      if (value.length !== 4) throw new RangeError('LIFETIME');
      return value.readUInt32BE(0);
    case Attr.XOR_PEER_ADDRESS: {
      const peer = decodeXorAddress(value, m.transactionId);
      if (!peer) throw new RangeError('XOR-PEER-ADDRESS');
      // node-turn's Address mis-expands some "::" forms: give it all 8 words
      const address = peer.family === 4 ? peer.address : ipv6Words(peer.address)!.map((w) => w.toString(16)).join(':');
      return new NodeTurnAddress(address, peer.port);
    }
    case Attr.DATA:
      return value;
    case Attr.EVEN_PORT:
      if (value.length < 1) throw new RangeError('EVEN-PORT');
      return (value[0]! & 0x80) !== 0;
    case Attr.REQUESTED_TRANSPORT:
      if (value.length !== 4) throw new RangeError('REQUESTED-TRANSPORT');
      return value[0];
    case Attr.DONT_FRAGMENT:
      return true;
    case Attr.RESERVATION_TOKEN:
      return value.toString('latin1');
    default:
      return undefined; // attributes without meaning in a request, or unknown optional ones
  }
}
