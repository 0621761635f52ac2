/**
 * Framing STUN and ChannelData on a stream (RFC 8656 section 12.5): frames
 * split anywhere, several in one chunk, padding, and what cannot be framed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_STREAM_FRAME_BYTES, StreamFramer } from '../../src/turn/stream-framer.js';
import type { FramingError } from '../../src/turn/stream-framer.js';
import { Attr, encodeChannelData, encodeStun, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';

function collect(): { framer: StreamFramer; frames: Buffer[]; errors: FramingError[] } {
  const frames: Buffer[] = [];
  const errors: FramingError[] = [];
  const framer = new StreamFramer({ frame: (f) => frames.push(Buffer.from(f)), invalid: (r) => errors.push(r) });
  return { framer, frames, errors };
}

const binding = () => encodeStun(StunMethod.BINDING, StunClass.REQUEST, newTransactionId(), [[Attr.SOFTWARE, Buffer.from('abc')]]);

describe('StreamFramer', () => {
  test('STUN messages and padded ChannelData, back to back in one chunk, then split at every byte', () => {
    const a = binding();
    const b = encodeChannelData(0x4001, Buffer.from('hello')); // 5 bytes: padded to 8
    assert.equal(b.length, 12);
    const c = encodeChannelData(0x4002, Buffer.alloc(0));
    const all = Buffer.concat([a, b, c, a]);
    const whole = collect();
    whole.framer.push(all);
    assert.deepEqual(whole.frames, [a, b, c, a]);
    assert.deepEqual(whole.errors, []);
    for (let cut = 1; cut < all.length; cut++) {
      const split = collect();
      split.framer.push(all.subarray(0, cut));
      split.framer.push(all.subarray(cut));
      assert.deepEqual(split.frames, [a, b, c, a], `split at ${cut}`);
    }
    const trickle = collect();
    for (const byte of all) trickle.framer.push(Buffer.from([byte]));
    assert.deepEqual(trickle.frames, [a, b, c, a]);
    assert.equal(trickle.framer.buffered, 0);
  });

  test('a partial frame is held (bounded by its size) until it completes; a length larger than the data waits', () => {
    const { framer, frames } = collect();
    const big = encodeChannelData(0x4000, Buffer.alloc(65535, 7));
    assert.equal(big.length, MAX_STREAM_FRAME_BYTES);
    framer.push(big.subarray(0, 1000));
    assert.equal(frames.length, 0);
    assert.equal(framer.buffered, 1000);
    framer.push(big.subarray(1000, big.length - 1));
    assert.equal(frames.length, 0);
    framer.push(big.subarray(big.length - 1));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.length, MAX_STREAM_FRAME_BYTES);
  });

  const invalid: [string, Buffer, FramingError][] = [
    ['first bits 0b10', Buffer.from([0x80, 0, 0, 0]), 'not_stun'],
    ['first bits 0b11 (TLS record, HTTP would be 0b01)', Buffer.from([0xc0, 1, 2, 3, 4, 5, 6, 7]), 'not_stun'],
    ['STUN length not a multiple of 4', Buffer.from([0, 1, 0, 5]), 'bad_length'],
    ['STUN without the magic cookie', Buffer.from([0, 1, 0, 0, 1, 2, 3, 4]), 'bad_cookie'],
    ['reserved channel number 0x7fff', Buffer.from([0x7f, 0xff, 0, 4]), 'bad_channel'],
  ];
  for (const [what, bytes, reason] of invalid) {
    test(`cannot be framed: ${what} → ${reason}, once, and nothing after it`, () => {
      const { framer, frames, errors } = collect();
      framer.push(Buffer.concat([binding(), bytes, binding()]));
      assert.equal(frames.length, 1);
      assert.deepEqual(errors, [reason]);
      framer.push(binding());
      assert.equal(frames.length, 1);
      assert.deepEqual(errors, [reason]);
      assert.equal(framer.buffered, 0);
    });
  }

  test('64 KiB of random garbage: at most one error, never more than one frame held', () => {
    for (let run = 0; run < 50; run++) {
      const { framer, errors } = collect();
      const garbage = Buffer.alloc(65536);
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(Math.random() * 256);
      for (let i = 0; i < garbage.length; i += 1500) {
        framer.push(garbage.subarray(i, i + 1500));
        assert.ok(framer.buffered <= MAX_STREAM_FRAME_BYTES);
      }
      assert.ok(errors.length <= 1);
    }
  });

  test('a sink that closes the framer from a frame stops it at once', () => {
    const frames: Buffer[] = [];
    const framer: StreamFramer = new StreamFramer({ frame: (f) => { frames.push(f); framer.close(); }, invalid: () => assert.fail() });
    framer.push(Buffer.concat([binding(), binding()]));
    assert.equal(frames.length, 1);
  });
});
