/**
 * The signaling wire protocol (docs/protocol.md): turning untrusted client frames
 * into typed events, and server events into frames. Pure: no I/O, no state.
 */
import { z } from 'zod';
import { MAX_JSON_DEPTH, scanFrame, ScanVerdict } from './frame-scan.js';
import type { TopLevel } from './frame-scan.js';

export interface Credentials {
  username: string;
  password: string;
}

/** A text frame from the client, as the connection machine sees it. */
export type ClientFrame =
  | { readonly type: 'ping' }
  | { readonly type: 'frame.authenticate'; readonly credentials: Credentials | null }
  | MessageFrame
  | { readonly type: 'frame.invalid'; readonly reason: InvalidReason };

/**
 * A member's message (a JSON object), to forward with `from` set. Read from
 * its bytes (`readClientFrame`: it is forwarded as those bytes up to the
 * object's closing brace, then `,"from":…}`), or parsed (`parseClientFrame`:
 * the text, and the object when it must be written anew).
 */
export type MessageFrame =
  | {
      readonly type: 'frame.message';
      /** The frame as received (valid JSON of an object). */
      readonly text: string;
      readonly payload: Record<string, unknown>;
      /** The addressee's peer_id, or undefined to broadcast to the room. */
      readonly to: string | undefined;
    }
  | {
      readonly type: 'frame.message';
      /** The frame as received (valid UTF-8 JSON of an object with members and no `from`). */
      readonly bytes: Buffer;
      /** Index of the object's closing brace in `bytes`. */
      readonly end: number;
      readonly to: string | undefined;
      readonly payload?: undefined;
    };

/** A frame as `parseClientFrame` makes it (a message keeps its text and object). */
export type ParsedClientFrame = Exclude<ClientFrame, { bytes: Buffer }>;

export type InvalidReason = 'invalid_json' | 'invalid_to' | 'already_authenticated' | 'unknown_peer';

export const PING_FRAME: ParsedClientFrame = Object.freeze({ type: 'ping' });
const INVALID_JSON: ParsedClientFrame = Object.freeze({ type: 'frame.invalid', reason: 'invalid_json' });
const INVALID_TO: ParsedClientFrame = Object.freeze({ type: 'frame.invalid', reason: 'invalid_to' });

/**
 * The longest username, in UTF-8 bytes: what TURN's USERNAME can carry (RFC
 * 8489 section 14.3, fewer than 509 bytes), TURN taking the same credentials.
 * Usernames key the guess throttle's buckets: a longer one is refused
 * (`unauthorized`) before any check, so that 100,000 tracked names cannot
 * hold 64 KiB each.
 */
export const MAX_USERNAME_BYTES = 508;

const credentialsSchema = z.object({
  username: z.string().refine((u) => u.length <= MAX_USERNAME_BYTES && Buffer.byteLength(u) <= MAX_USERNAME_BYTES),
  password: z.string(),
});

/**
 * True when `text` nests objects and arrays deeper than `max` (brackets in
 * strings do not count). One pass, no allocation: checked before `JSON.parse`.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** Parses one text frame. Never throws. */
export function parseClientFrame(text: string): ParsedClientFrame {
  if (text === 'ping') return PING_FRAME;
  return nestsDeeperThan(text, MAX_JSON_DEPTH) ? INVALID_JSON : parseShallow(text);
}

/** `parseClientFrame` of a text known to nest at most MAX_JSON_DEPTH deep (a scan checked it). */
function parseShallow(text: string): ParsedClientFrame {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return INVALID_JSON;
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return INVALID_JSON;
  const object = payload as Record<string, unknown>;
  if (object.event === 'authenticate') {
    const parsed = credentialsSchema.safeParse(object.data);
    return { type: 'frame.authenticate', credentials: parsed.success ? parsed.data : null };
  }
  const to = object.to;
  if (to !== undefined && typeof to !== 'string') return INVALID_TO;
  if (to === undefined && Object.hasOwn(object, 'to')) return INVALID_TO;
  return { type: 'frame.message', text, payload: object, to };
}

/** What the last scan found (one scan at a time: scans are synchronous). */
const scanned: TopLevel = { members: 0, toStart: -1, toEnd: -1, authenticate: false, hasFrom: false, end: -1 };

/**
 * Reads one text frame (valid UTF-8, as ws hands them over) as
 * `parseClientFrame` would parse its text, to the same frame and the same
 * forwarded bytes, without `JSON.parse` for the common message: one scan of
 * the bytes checks the JSON and finds `to` (frame-scan.ts). `authenticate`,
 * an empty object, a client `from`, or escapes in the top-level keys go
 * through `parseClientFrame`. Never throws.
 */
export function readClientFrame(bytes: Buffer): ClientFrame {
  if (bytes.length === 4 && bytes[0] === 0x70 && bytes[1] === 0x69 && bytes[2] === 0x6e && bytes[3] === 0x67) return PING_FRAME;
  const verdict = scanFrame(bytes, scanned);
  if (verdict === ScanVerdict.INVALID) return INVALID_JSON;
  // the scan refused anything nested deeper than MAX_JSON_DEPTH already
  if (verdict === ScanVerdict.UNSURE || scanned.authenticate || scanned.hasFrom || scanned.members === 0) return parseShallow(bytes.toString('utf8'));
  if (scanned.toStart === -2) return INVALID_TO;
  const to = scanned.toStart === -1 ? undefined : bytes.toString('utf8', scanned.toStart, scanned.toEnd);
  return { type: 'frame.message', bytes, end: scanned.end, to };
}

/**
 * The frame to forward: the client's object with `"from": peerId` set
 * (overwriting any client `from`). When the client sent no `from`, the field
 * is spliced into the received text instead of re-serializing the object.
 */
export function withFrom(text: string, payload: Record<string, unknown>, peerId: string): string {
  if (Object.hasOwn(payload, 'from')) {
    payload.from = peerId;
    return JSON.stringify(payload);
  }
  const close = text.lastIndexOf('}');
  for (const _ in payload) {
    return `${text.slice(0, close)},"from":${JSON.stringify(peerId)}}`;
  }
  return `{"from":${JSON.stringify(peerId)}}`;
}

/** `{"event": E}` or `{"event": E, "data": D}`. */
export function encodeEvent(event: string, data?: unknown): string {
  return JSON.stringify(data === undefined ? { event } : { event, data });
}

export interface PeerInfo {
  peer_id: string;
  username: string;
}

export const ServerFrames = {
  unauthorized: (): string => UNAUTHORIZED,
  authenticated: (peerId: string, peers: PeerInfo[]): string => encodeEvent('authenticated', { peer_id: peerId, peers }),
  joined: (peerId: string, username: string): string => encodeEvent('joined', { peer_id: peerId, username }),
  left: (peerId: string, username: string): string => encodeEvent('left', { username, peer_id: peerId }),
  invalid: (reason: InvalidReason, peerId?: string): string =>
    encodeEvent('invalid_message', peerId === undefined ? { reason } : { reason, peer_id: peerId }),
} as const;
const UNAUTHORIZED = encodeEvent('unauthorized');
