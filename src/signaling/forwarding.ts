/**
 * Forwarding in a room: what happens to a member's message frame. One
 * function, used by the connection actor's `forward` effect and by the
 * connection's fast path while the actor is `inRoom` (see connection.actor.ts):
 * broadcast without `to`, unicast with `to`, `invalid_message` otherwise.
 * The frame is serialized once, whatever the number of recipients.
 */
import type { Metrics } from '../observability/metrics.js';
import type { RoomBus } from '../rooms/room-bus.js';
import type { ClientFrame, MessageFrame } from './protocol.js';
import { ServerFrames, withFrom } from './protocol.js';
import type { TextFrames } from './text-frames.js';

/** Longest `to` echoed back in `unknown_peer` (a peer id is 16 characters). */
export const MAX_ECHOED_PEER_ID = 64;

export type ForwardableFrame = Extract<ClientFrame, { type: 'frame.message' } | { type: 'frame.invalid' }>;

/** Who forwards: a member of `room`. */
export interface Sender {
  readonly room: string;
  readonly peerId: string;
  /** `,"from":<peerId as JSON>}`, what ends the frames it forwards. */
  readonly fromTail: Buffer;
}

/** `,"from":<peerId as JSON>}`. */
export function fromTail(peerId: string): Buffer {
  return Buffer.from(`,"from":${JSON.stringify(peerId)}}`);
}

/** The payload forwarded for `frame`: the client's object with `"from"` set, framed once for every recipient. */
export function forwardedPayload(frames: TextFrames, sender: Sender, frame: MessageFrame): Buffer {
  return frame.payload === undefined
    ? frames.spliced(frame.bytes, frame.end, sender.fromTail)
    : frames.payload(withFrom(frame.text, frame.payload, sender.peerId));
}

/**
 * Forwards `frame` from `sender` in its room; returns the answer for the sender, if any. The
 * forwarded payload is made by `frames` (framed once, for every recipient).
 */
export function forwardFrame(bus: RoomBus, metrics: Metrics, frames: TextFrames, sender: Sender, frame: ForwardableFrame): string | null {
  if (frame.type === 'frame.invalid') {
    metrics.drop(frame.reason);
    return ServerFrames.invalid(frame.reason);
  }
  const to = frame.to;
  if (to === undefined) {
    bus.broadcast(sender.room, forwardedPayload(frames, sender, frame), sender.peerId);
    metrics.forwardedBroadcast.inc();
    return null;
  }
  if (bus.unicast(sender.room, to, forwardedPayload(frames, sender, frame))) {
    metrics.forwardedUnicast.inc();
    return null;
  }
  metrics.drop('unknown_peer');
  // Never echo attacker-sized input: only a `to` with a peer id's shape comes back (docs/protocol.md).
  return ServerFrames.invalid('unknown_peer', to.length <= MAX_ECHOED_PEER_ID ? to : undefined);
}
