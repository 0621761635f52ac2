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
    const header = headerLength(length);
    const frame = Buffer.allocUnsafe(header + length);
    writeHeader(frame, length, header);
    frame.write(text, header, length, 'utf8');
    const payload = frame.subarray(header);
    this.lastPayload = payload;
    this.lastFrame = frame;
    return payload;
  }
}

export function encodeTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const header = headerLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  writeHeader(frame, length, header);
  payload.copy(frame, header);
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
