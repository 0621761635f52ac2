/**
 * The STUN wire format, as far as our TURN adapter needs it: decoding and
 * validating datagrams (RFC 5389 section 6 and 15), MESSAGE-INTEGRITY and
 * FINGERPRINT (section 15.4, 15.5, checked against the RFC 5769 vectors),
 * long-term credential keys (section 15.4, SASLprep of RFC 4013),
 * XOR-address and ERROR-CODE attributes, and TURN ChannelData (RFC 8656
 * section 12.4). Pure: no I/O, no node-turn.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { crc32 } from 'node:zlib';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
const FINGERPRINT_XOR = 0x5354554e;

export const StunClass = { REQUEST: 0, INDICATION: 1, SUCCESS: 2, ERROR: 3 } as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

export const StunMethod = {
  BINDING: 0x001,
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
} as const;

/** Attribute types (RFC 5389 section 18.2, RFC 8656 section 18). */
export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
} as const;

/** Comprehension-required attributes (type < 0x8000) the server understands in a request. */
export const KNOWN_REQUIRED_ATTRIBUTES: ReadonlySet<number> = new Set([
  Attr.MAPPED_ADDRESS, Attr.USERNAME, Attr.MESSAGE_INTEGRITY, Attr.ERROR_CODE, Attr.UNKNOWN_ATTRIBUTES,
  Attr.CHANNEL_NUMBER, Attr.LIFETIME, Attr.XOR_PEER_ADDRESS, Attr.DATA, Attr.REALM, Attr.NONCE,
  Attr.XOR_RELAYED_ADDRESS, Attr.REQUESTED_ADDRESS_FAMILY, Attr.EVEN_PORT, Attr.REQUESTED_TRANSPORT,
  Attr.DONT_FRAGMENT, Attr.XOR_MAPPED_ADDRESS, Attr.RESERVATION_TOKEN,
]);

export interface StunAttribute {
  type: number;
  /** The value, without padding (a view into the message). */
  value: Buffer;
  /** Offset of the attribute's header in the message. */
  offset: number;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Buffer;
  attributes: StunAttribute[];
  /** The whole message (header included). */
  raw: Buffer;
}

export interface TransportAddress {
  address: string;
  port: number;
}

/** True when the first two bits say "ChannelData" (RFC 8656 section 12.4: 0b01). */
export function looksLikeChannelData(buf: Buffer): boolean {
  return buf.length >= 4 && (buf[0]! & 0xc0) === 0x40;
}

/** The header of a STUN message: method and class (RFC 5389 section 6), read without the attributes. */
export interface StunHeader {
  method: number;
  cls: StunClass;
  transactionId: Buffer;
}

/**
 * The header of one STUN message occupying the whole datagram (first two
 * bits, magic cookie, length a multiple of 4 and equal to the datagram), or
 * null. Reads 20 bytes whatever the datagram's size.
 */
export function decodeStunHeader(buf: Buffer): StunHeader | null {
  if (buf.length < HEADER_LENGTH || (buf[0]! & 0xc0) !== 0) return null;
  const type = buf.readUInt16BE(0);
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER_LENGTH + length !== buf.length) return null;
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) return null;
  const cls = (((type >> 7) & 0x2) | ((type >> 4) & 0x1)) as StunClass;
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  return { method, cls, transactionId: buf.subarray(8, 20) };
}

/**
 * Decodes one STUN message occupying the whole datagram, or returns null when
 * it is not a well-formed STUN message (first two bits, magic cookie, length a
 * multiple of 4 and equal to the datagram, every attribute inside the message)
 * or has more than `maxAttributes` attributes.
 */
export function decodeStun(buf: Buffer, maxAttributes = Infinity): StunMessage | null {
  const header = decodeStunHeader(buf);
  if (!header) return null;
  const { method, cls, transactionId } = header;
  const attributes: StunAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < buf.length) {
    if (offset + 4 > buf.length || attributes.length >= maxAttributes) return null;
    const attrType = buf.readUInt16BE(offset);
    const attrLength = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + attrLength;
    if (end > buf.length) return null;
    attributes.push({ type: attrType, value: buf.subarray(offset + 4, end), offset });
    offset = end + ((4 - (attrLength % 4)) % 4);
  }
  if (offset !== buf.length) return null;
  return { method, cls, transactionId, attributes, raw: buf };
}

export function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 0x1) << 4) | ((cls & 0x2) << 7);
}

export function getAttribute(m: StunMessage, type: number): StunAttribute | undefined {
  return m.attributes.find((a) => a.type === type);
}

/** Comprehension-required attribute types in `m` that `known` does not list (RFC 5389 section 7.3.1). */
export function unknownRequiredAttributes(m: StunMessage, known: ReadonlySet<number> = KNOWN_REQUIRED_ATTRIBUTES): number[] {
  const unknown: number[] = [];
  for (const a of m.attributes) {
    if (a.type < 0x8000 && !known.has(a.type) && !unknown.includes(a.type)) unknown.push(a.type);
  }
  return unknown;
}

/** The header of `m.raw` up to `end`, with the length field set as if the message ended at `lengthEnd`. */
function prefixWithLength(m: StunMessage, end: number, lengthEnd: number): Buffer {
  const copy = Buffer.from(m.raw.subarray(0, end));
  copy.writeUInt16BE(lengthEnd - HEADER_LENGTH, 2);
  return copy;
}

/** FINGERPRINT value for the first `end` bytes of a message (RFC 5389 section 15.5). */
function fingerprintOf(prefix: Buffer): number {
  return (crc32(prefix) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * 'absent', 'valid' or 'invalid'. A FINGERPRINT must be the last attribute;
 * one anywhere else is invalid.
 */
export function checkFingerprint(m: StunMessage): 'absent' | 'valid' | 'invalid' {
  const index = m.attributes.findIndex((a) => a.type === Attr.FINGERPRINT);
  if (index === -1) return 'absent';
  const attr = m.attributes[index]!;
  if (index !== m.attributes.length - 1 || attr.value.length !== 4) return 'invalid';
  const expected = fingerprintOf(prefixWithLength(m, attr.offset, m.raw.length));
  return attr.value.readUInt32BE(0) === expected ? 'valid' : 'invalid';
}

/**
 * Checks MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to the attribute,
 * length field covering it; RFC 5389 section 15.4) in constant time.
 */
export function checkIntegrity(m: StunMessage, key: Buffer): 'absent' | 'valid' | 'invalid' {
  const attr = getAttribute(m, Attr.MESSAGE_INTEGRITY);
  if (!attr) return 'absent';
  if (attr.value.length !== 20) return 'invalid';
  const hmac = createHmac('sha1', key).update(prefixWithLength(m, attr.offset, attr.offset + 24)).digest();
  return timingSafeEqual(hmac, attr.value) ? 'valid' : 'invalid';
}

/**
 * SASLprep (RFC 4013) for the passwords we see: characters "commonly mapped
 * to nothing" are removed, non-ASCII spaces become a space, then NFKC.
 * (Prohibited-output and bidi checks are not needed to derive a key.)
 */
export function saslprep(s: string): string {
  const mapped = s
    .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '')
    .replace(/[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g, ' ');
  return mapped.normalize('NFKC');
}

/** Long-term credential key: MD5(username ":" realm ":" SASLprep(password)). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${saslprep(password)}`).digest();
}

/** Short-term credential key: SASLprep(password). */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(saslprep(password), 'utf8');
}

function xorKey(transactionId: Buffer): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(key, 4);
  return key;
}

/** Decodes an XOR-*-ADDRESS value; null when malformed. IPv6 comes out in canonical form. */
export function decodeXorAddress(value: Buffer, transactionId: Buffer): (TransportAddress & { family: 4 | 6 }) | null {
  if (value.length < 4) return null;
  const family = value[1];
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  const key = xorKey(transactionId);
  if (family === 0x01 && value.length === 8) {
    const bytes = [0, 1, 2, 3].map((i) => value[4 + i]! ^ key[i]!);
    return { family: 4, address: bytes.join('.'), port };
  }
  if (family === 0x02 && value.length === 20) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push((value.readUInt16BE(4 + 2 * i) ^ key.readUInt16BE(2 * i)).toString(16));
    return { family: 6, address: compressIPv6(words), port };
  }
  return null;
}

function compressIPv6(words: string[]): string {
  // longest run of zero words (length >= 2) becomes "::"
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best === -1) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** Expands an IPv6 address (no zone, optional embedded IPv4) to 8 16-bit words, or null. */
export function ipv6Words(address: string): number[] | null {
  let s = address;
  const lastColon = s.lastIndexOf(':');
  if (lastColon === -1) return null;
  const v4 = s.slice(lastColon + 1);
  if (isIPv4(v4)) {
    const b = v4.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const w of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(w)) return null;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const halves = s.split('::');
  if (halves.length > 2) return null;
  if (halves.length === 2) {
    const left = parse(halves[0]!);
    const right = parse(halves[1]!);
    if (!left || !right || left.length + right.length > 7) return null;
    return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  const all = parse(s);
  return all && all.length === 8 ? all : null;
}

export function encodeXorAddress(addr: TransportAddress, transactionId: Buffer): Buffer {
  const key = xorKey(transactionId);
  if (isIPv4(addr.address)) {
    const out = Buffer.alloc(8);
    out[1] = 0x01;
    out.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
    addr.address.split('.').forEach((b, i) => (out[4 + i] = Number(b) ^ key[i]!));
    return out;
  }
  const words = ipv6Words(addr.address);
  if (!words) throw new TypeError(`not an IP address: ${addr.address}`);
  const out = Buffer.alloc(20);
  out[1] = 0x02;
  out.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
  words.forEach((w, i) => out.writeUInt16BE(w ^ key.readUInt16BE(2 * i), 4 + 2 * i));
  return out;
}

export function encodeErrorCode(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const out = Buffer.alloc(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  text.copy(out, 4);
  return out;
}

export function decodeErrorCode(value: Buffer): { code: number; reason: string } | null {
  if (value.length < 4) return null;
  return { code: (value[2]! & 0x7) * 100 + value[3]!, reason: value.subarray(4).toString('utf8') };
}

export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const out = Buffer.alloc(2 * types.length);
  types.forEach((t, i) => out.writeUInt16BE(t, 2 * i));
  return out;
}

export function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n >>> 0, 0);
  return out;
}

export interface EncodeOptions {
  /** Adds MESSAGE-INTEGRITY computed with this key. */
  integrityKey?: Buffer;
  /** Adds FINGERPRINT (last). */
  fingerprint?: boolean;
}

/** Encodes a STUN message; `attributes` are [type, value] in order. */
export function encodeStun(
  method: number,
  cls: StunClass,
  transactionId: Buffer,
  attributes: readonly (readonly [number, Buffer])[],
  options: EncodeOptions = {},
): Buffer {
  const parts: Buffer[] = [Buffer.alloc(HEADER_LENGTH)];
  const header = parts[0]!;
  header.writeUInt16BE(messageType(method, cls), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  let length = 0;
  const push = (type: number, value: Buffer) => {
    const tlv = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
    tlv.writeUInt16BE(type, 0);
    tlv.writeUInt16BE(value.length, 2);
    value.copy(tlv, 4);
    parts.push(tlv);
    length += tlv.length;
  };
  for (const [type, value] of attributes) push(type, value);
  if (options.integrityKey) {
    header.writeUInt16BE(length + 24, 2);
    const hmac = createHmac('sha1', options.integrityKey).update(Buffer.concat(parts)).digest();
    push(Attr.MESSAGE_INTEGRITY, hmac);
  }
  if (options.fingerprint) {
    header.writeUInt16BE(length + 8, 2);
    push(Attr.FINGERPRINT, u32(fingerprintOf(Buffer.concat(parts))));
  }
  header.writeUInt16BE(length, 2);
  return Buffer.concat(parts);
}

export function newTransactionId(): Buffer {
  return randomBytes(12);
}

/**
 * Channel numbers we accept: 0x4000 through 0x7FFE, RFC 5766's range, so that
 * older clients still bind (RFC 8656 section 12 narrows new ones to 0x4FFF).
 */
export function isChannelNumber(n: number): boolean {
  return n >= 0x4000 && n <= 0x7ffe;
}

export function decodeChannelData(buf: Buffer): { channel: number; data: Buffer } | null {
  if (!looksLikeChannelData(buf)) return null;
  const channel = buf.readUInt16BE(0);
  const length = buf.readUInt16BE(2);
  if (!isChannelNumber(channel) || 4 + length > buf.length) return null;
  return { channel, data: buf.subarray(4, 4 + length) };
}

/** ChannelData, padded to a multiple of 4 (allowed over UDP, required over TCP). */
export function encodeChannelData(channel: number, data: Buffer): Buffer {
  const end = 4 + data.length;
  const out = Buffer.allocUnsafe(end + ((4 - (data.length % 4)) % 4));
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  out.fill(0, end);
  return out;
}
