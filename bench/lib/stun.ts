/**
 * The bench's one STUN codec (RFC 8489): what its TURN clients (the load
 * client, the soak's honest and abusive users) and the bare Node TURN relay
 * encode and decode. Its own, not src/turn's, so that the same client
 * measures our server and coturn alike.
 */
import { createHmac } from 'node:crypto';

export const MAGIC = 0x2112a442;
const MAGIC_BYTES = Buffer.from([0x21, 0x12, 0xa4, 0x42]);
export const METHOD = { BINDING: 0x001, ALLOCATE: 0x003, REFRESH: 0x004, SEND: 0x006, DATA: 0x007, CREATE_PERMISSION: 0x008, CHANNEL_BIND: 0x009 } as const;
/** Message class bits (RFC 8489 section 5): a request is the bare method. */
export const CLASS = { INDICATION: 0x0010, SUCCESS: 0x0100, ERROR: 0x0110 } as const;
export const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
} as const;

/** A decoded message: its type and its attributes (the first of each type). */
export interface StunReply {
  type: number;
  attrs: Map<number, Buffer>;
}

function padded(n: number): number {
  return (n + 3) & ~3;
}

export function encode(type: number, tid: Buffer, attrs: [number, Buffer][], key: Buffer | null): Buffer {
  const bodyLen = attrs.reduce((a, [, v]) => a + 4 + padded(v.length), 0);
  const total = 20 + bodyLen + (key ? 24 : 0);
  const out = Buffer.alloc(total);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(total - 20, 2);
  out.writeUInt32BE(MAGIC, 4);
  tid.copy(out, 8);
  let o = 20;
  for (const [t, v] of attrs) {
    out.writeUInt16BE(t, o);
    out.writeUInt16BE(v.length, o + 2);
    v.copy(out, o + 4);
    o += 4 + padded(v.length);
  }
  if (key) {
    // RFC 5389 section 15.4: the HMAC covers the message up to MESSAGE-INTEGRITY, the length counting it.
    const mac = createHmac('sha1', key).update(out.subarray(0, o)).digest();
    out.writeUInt16BE(ATTR.MESSAGE_INTEGRITY, o);
    out.writeUInt16BE(20, o + 2);
    mac.copy(out, o + 4);
  }
  return out;
}

export function decode(buf: Buffer): (StunReply & { tid: string }) | null {
  if (buf.length < 20 || (buf[0]! & 0xc0) !== 0 || buf.readUInt32BE(4) !== MAGIC) return null;
  const len = buf.readUInt16BE(2);
  if (20 + len > buf.length) return null;
  const attrs = new Map<number, Buffer>();
  let o = 20;
  while (o + 4 <= 20 + len) {
    const t = buf.readUInt16BE(o);
    const l = buf.readUInt16BE(o + 2);
    if (o + 4 + l > buf.length) return null;
    if (!attrs.has(t)) attrs.set(t, buf.subarray(o + 4, o + 4 + l));
    o += 4 + padded(l);
  }
  return { type: buf.readUInt16BE(0), tid: buf.toString('hex', 8, 20), attrs };
}

export function xorAddress(address: string, port: number): Buffer {
  const out = Buffer.alloc(8);
  out[1] = 0x01;
  out.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  address.split('.').forEach((b, i) => (out[4 + i] = Number(b) ^ MAGIC_BYTES[i]!));
  return out;
}

export function readXorAddress(v: Buffer | undefined): string | null {
  if (!v || v.length < 8 || v[1] !== 0x01) return null;
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  return `${[0, 1, 2, 3].map((i) => v[4 + i]! ^ MAGIC_BYTES[i]!).join('.')}:${port}`;
}

export function errorCode(reply: StunReply): number | null {
  const v = reply.attrs.get(ATTR.ERROR_CODE);
  return v && v.length >= 4 ? (v[2]! & 0x7) * 100 + v[3]! : null;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

