/**
 * What the server sends (PROTOCOL.md "Frames"), typed, and `classify()`, which
 * turns one text frame into exactly one of them. The frames are untrusted
 * input: every field is checked; a frame that fits nothing is `malformed`.
 */

/** A member of the room. */
export interface PeerInfo {
  peerId: string;
  username: string;
}

/** `{"event":"authenticated","data":{"peer_id","peers"}}`: we are a member. */
export interface AuthenticatedMessage {
  peerId: string;
  /** The earlier members, in join order (`[]` from a server that does not list them). */
  peers: PeerInfo[];
}

/** `{"event":"joined","data":{"peer_id","username"}}`: a newcomer in the room. */
export type JoinedMessage = PeerInfo;

/** `{"event":"left","data":{"username","peer_id"}}`: a member is gone. */
export type LeftMessage = PeerInfo;

export type InvalidMessageReason = 'invalid_json' | 'invalid_to' | 'unknown_peer' | 'already_authenticated';

/** `{"event":"invalid_message","data":{"reason", "peer_id"?}}`: the server refused one of our frames. */
export interface InvalidMessage {
  /** One of `InvalidMessageReason` from this server; kept as sent when it is something else. */
  reason: InvalidMessageReason | (string & {});
  /** With `unknown_peer`: the `to` we sent (when at most 64 characters). */
  peerId?: string;
}

/** A message from another member: its own object, with `from` set by the server. */
export interface PeerMessage {
  event: string;
  data: unknown;
  /** The sender's peer id (set by the server; never forged). */
  from: string;
  /** Our peer id when it was sent to us only; absent for a broadcast. */
  to?: string;
  /** The whole object as received (a peer may add fields of its own). */
  raw: Record<string, unknown>;
}

/** A frame from the application on the server (`publish`, `send`, admin publish): no `from`. */
export interface ServerEventMessage {
  event: string;
  /** Absent when the server sent no `data` key. */
  data?: unknown;
}

export type ServerFrame =
  | { kind: 'pong' }
  | { kind: 'authenticated'; message: AuthenticatedMessage }
  | { kind: 'unauthorized' }
  | { kind: 'joined'; message: JoinedMessage }
  | { kind: 'left'; message: LeftMessage }
  | { kind: 'invalid_message'; message: InvalidMessage }
  | { kind: 'peer'; message: PeerMessage }
  | { kind: 'server'; message: ServerEventMessage }
  | { kind: 'malformed'; text: string; why: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function peerInfo(v: unknown): PeerInfo | null {
  if (!isObject(v) || typeof v.peer_id !== 'string' || typeof v.username !== 'string') return null;
  return { peerId: v.peer_id, username: v.username };
}

/** Longest text of a malformed frame kept in its report. */
const MALFORMED_EXCERPT = 200;

function malformed(text: string, why: string): ServerFrame {
  return { kind: 'malformed', text: text.length > MALFORMED_EXCERPT ? `${text.slice(0, MALFORMED_EXCERPT)}…` : text, why };
}

/** One text frame from the server, as what it is. */
export function classify(text: string): ServerFrame {
  if (text === 'pong') return { kind: 'pong' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return malformed(text, 'not JSON');
  }
  if (!isObject(value) || typeof value.event !== 'string') return malformed(text, 'not an object with a string "event"');
  const { event, data } = value;
  if (typeof value.from === 'string') {
    const message: PeerMessage = { event, data, from: value.from, raw: value };
    if (typeof value.to === 'string') message.to = value.to;
    return { kind: 'peer', message };
  }
  switch (event) {
    case 'authenticated': {
      if (!isObject(data) || typeof data.peer_id !== 'string') return malformed(text, 'authenticated without a string peer_id');
      const peers = Array.isArray(data.peers) ? data.peers.map(peerInfo) : [];
      if (peers.some((p) => p === null)) return malformed(text, 'authenticated with a malformed peers entry');
      return { kind: 'authenticated', message: { peerId: data.peer_id, peers: peers as PeerInfo[] } };
    }
    case 'unauthorized':
      return { kind: 'unauthorized' };
    case 'joined':
    case 'left': {
      const peer = peerInfo(data);
      if (!peer) return malformed(text, `${event} without string peer_id and username`);
      return event === 'joined' ? { kind: 'joined', message: peer } : { kind: 'left', message: peer };
    }
    case 'invalid_message': {
      if (!isObject(data) || typeof data.reason !== 'string') return malformed(text, 'invalid_message without a string reason');
      const message: InvalidMessage = { reason: data.reason };
      if (typeof data.peer_id === 'string') message.peerId = data.peer_id;
      return { kind: 'invalid_message', message };
    }
    default: {
      const message: ServerEventMessage = { event };
      if ('data' in value) message.data = data;
      return { kind: 'server', message };
    }
  }
}
