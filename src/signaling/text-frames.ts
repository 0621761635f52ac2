/**
 * Server-to-client WebSocket text frames (RFC 6455 section 5.2: FIN, opcode
 * 1, unmasked), encoded once per payload. A frame fanned out to a room is
 * the same Buffer for every recipient, so the last payload and its frame
 * are remembered: a broadcast frames its payload once, and each recipient's
 * socket gets one write of one Buffer (instead of `ws`'s header and payload
 * per recipient). Only for a listener without permessage-deflate, where a
 * data frame is exactly these bytes.
 */
const FIN_TEXT = 0x81;

export class TextFrames {
  private lastPayload: Buffer | null = null;
  private lastFrame: Buffer | null = null;

  encode(payload: Buffer): Buffer {
    if (payload === this.lastPayload) return this.lastFrame!;
    const frame = encodeTextFrame(payload);
    this.lastPayload = payload;
    this.lastFrame = frame;
    return frame;
  }

  /**
   * `text` as a UTF-8 payload that is already framed: the payload is a view
   * into its frame (one allocation, one copy of the text), and `encode` of
   * it, for as long as it is the last payload, is that frame. What the
   * message path fans out.
   */
  payload(text: string): Buffer {
    const length = Buffer.byteLength(text);
    const payload = this.framed(length);
    payload.write(text, 0, length, 'utf8');
    return payload;
  }

  /**
   * `bytes` up to `end`, then `tail`, as a payload that is already framed
   * (as `payload`): a member's frame forwarded with its `from`, copied from
   * the bytes received, never decoded.
   */
  spliced(bytes: Buffer, end: number, tail: Buffer): Buffer {
    const payload = this.framed(end + tail.length);
    bytes.copy(payload, 0, 0, end);
    tail.copy(payload, end);
    return payload;
  }

  /** The payload (to be filled in) of a new frame of `length` bytes, remembered as the last one. */
  private framed(length: number): Buffer {
    const frame = allocFrame(length);
    const payload = frame.subarray(frame.length - length);
    this.lastPayload = payload;
    this.lastFrame = frame;
    return payload;
  }
}

export function encodeTextFrame(payload: Buffer): Buffer {
  const frame = allocFrame(payload.length);
  payload.copy(frame, frame.length - payload.length);
  return frame;
}

/** A frame for a `length`-byte payload, its header written, its payload not. */
function allocFrame(length: number): Buffer {
  const header = headerLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  writeHeader(frame, length, header);
  return frame;
}

const headerLength = (length: number): number => (length < 126 ? 2 : length < 65_536 ? 4 : 10);

function writeHeader(frame: Buffer, length: number, header: number): void {
  frame[0] = FIN_TEXT;
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
}
