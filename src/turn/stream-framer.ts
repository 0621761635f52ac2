/**
 * Framing of STUN messages and ChannelData on a byte stream (TCP or TLS):
 * RFC 8656 section 12.5 ("over TCP and TLS-over-TCP, the ChannelData message
 * MUST be padded to a multiple of four bytes"), RFC 8489 section 6.2.2 (STUN
 * messages over TCP are delimited by their length field). The first two bits
 * of each frame say which: 0b00 a STUN message (20-byte header + length,
 * magic cookie, length a multiple of 4), 0b01 ChannelData (4-byte header +
 * length, padded). Anything else cannot be framed, and a stream cannot be
 * resynchronised: the framer reports it and reads no more.
 *
 * Bounded: a frame is at most 20 + 65532 (STUN) or 4 + 65536 (ChannelData,
 * padded) bytes, so at most one partial frame (< 64 KiB + 4) is held. Frames
 * in a chunk are handed out as views into it (no copy); only a frame split
 * across chunks is copied once. Pure: no I/O, no node-turn.
 */
import { HEADER_LENGTH, isChannelNumber, MAGIC_COOKIE } from './stun.js';

/** The largest frame there can be: a ChannelData of 65535 bytes, padded. */
export const MAX_STREAM_FRAME_BYTES = 4 + 65536;

/** Why a stream cannot be framed (it is closed). */
export type FramingError = 'not_stun' | 'bad_cookie' | 'bad_length' | 'bad_channel';

/** Where frames go: one call per complete frame (a STUN message or a padded ChannelData). */
export interface FrameSink {
  frame(frame: Buffer): void;
  /** Called once, on the first bytes that cannot be a frame; nothing is read after it. */
  invalid(reason: FramingError): void;
}

export class StreamFramer {
  /** The frame being filled, allocated at its full size once its header is known. */
  private pending: Buffer | null = null;
  private filled = 0;
  /** The start of a frame whose header is not complete yet (under 20 bytes). */
  private head: Buffer | null = null;
  private failed = false;

  constructor(private readonly sink: FrameSink) {}

  /** Bytes held waiting for the rest of their frame. */
  get buffered(): number {
    return this.pending ? this.filled : (this.head?.length ?? 0);
  }

  /**
   * Feeds bytes read from the stream; hands out every frame they complete.
   * Linear in the bytes fed, however they are split (a frame trickled in a
   * byte at a time is copied once, into a buffer of its final size).
   */
  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    let buf = chunk;
    if (this.pending) {
      const n = Math.min(chunk.length, this.pending.length - this.filled);
      chunk.copy(this.pending, this.filled, 0, n);
      this.filled += n;
      if (this.filled < this.pending.length) return;
      const frame = this.pending;
      this.pending = null;
      this.sink.frame(frame);
      if (this.failed) return; // the sink closed the stream
      buf = chunk.subarray(n);
    } else if (this.head) {
      buf = Buffer.concat([this.head, chunk]); // the head is under 20 bytes
      this.head = null;
    }
    let offset = 0;
    while (offset < buf.length) {
      const size = this.frameSize(buf, offset);
      if (size < 0) return;
      if (size === 0) {
        this.head = Buffer.from(buf.subarray(offset)); // a copy: it must not keep the chunk alive
        return;
      }
      if (offset + size > buf.length) {
        this.pending = Buffer.allocUnsafe(size);
        this.filled = buf.copy(this.pending, 0, offset);
        return;
      }
      this.sink.frame(buf.subarray(offset, offset + size));
      if (this.failed) return;
      offset += size;
    }
  }

  /** The frame's size from its header; 0 while the header is incomplete; -1 when invalid (reported). */
  private frameSize(buf: Buffer, offset: number): number {
    const available = buf.length - offset;
    const kind = buf[offset]! & 0xc0;
    if (kind === 0x40) {
      if (available < 4) return 0;
      const channel = buf.readUInt16BE(offset);
      if (!isChannelNumber(channel)) return this.fail('bad_channel');
      const length = buf.readUInt16BE(offset + 2);
      return 4 + length + ((4 - (length % 4)) % 4); // RFC 8656 section 12.5: padded on a stream
    }
    if (kind !== 0) return this.fail('not_stun');
    if (available >= 4 && buf.readUInt16BE(offset + 2) % 4 !== 0) return this.fail('bad_length');
    if (available < 8) return 0;
    if (buf.readUInt32BE(offset + 4) !== MAGIC_COOKIE) return this.fail('bad_cookie');
    return HEADER_LENGTH + buf.readUInt16BE(offset + 2);
  }

  private fail(reason: FramingError): -1 {
    this.close();
    this.sink.invalid(reason);
    return -1;
  }

  /** Stops framing (the stream closed): what was held is dropped. */
  close(): void {
    this.failed = true;
    this.pending = null;
    this.head = null;
  }
}
