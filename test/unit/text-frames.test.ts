import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as wsModule from 'ws';
import { encodeTextFrame, TextFrames } from '../../src/signaling/text-frames.js';

/** ws's frame parser; exported at run time, not in @types/ws. */
interface FrameParser {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  write(chunk: Buffer): void;
}
const Receiver = (wsModule as unknown as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => FrameParser }).Receiver;

/** Parses `bytes` with ws's own client-side frame parser (the one a Node client runs). */
function parse(bytes: Buffer): string[] {
  const out: string[] = [];
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.equal(isBinary, false);
    out.push(data.toString());
  });
  receiver.on('error', (err: Error) => assert.fail(err));
  receiver.write(bytes);
  return out;
}

test('text frames of every length encoding parse back with ws', () => {
  for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
    const payload = Buffer.alloc(length, 'x');
    const frame = encodeTextFrame(payload);
    assert.equal(frame.length, length + (length < 126 ? 2 : length < 65_536 ? 4 : 10), `length ${length}`);
    assert.deepEqual(parse(frame), [payload.toString()], `length ${length}`);
  }
  // Frames back to back, as a coalesced writev puts them on the wire.
  const a = encodeTextFrame(Buffer.from('{"event":"a"}'));
  const b = encodeTextFrame(Buffer.from('é'.repeat(200)));
  assert.deepEqual(parse(Buffer.concat([a, b])), ['{"event":"a"}', 'é'.repeat(200)]);
});

test('the same payload is framed once; another payload (even equal bytes) is framed anew', () => {
  const frames = new TextFrames();
  const payload = Buffer.from('{"event":"joined"}');
  const first = frames.encode(payload);
  assert.equal(frames.encode(payload), first);
  const equal = Buffer.from('{"event":"joined"}');
  const again = frames.encode(equal);
  assert.notEqual(again, first);
  assert.deepEqual(again, first);
  assert.deepEqual(parse(frames.encode(Buffer.from('x'))), ['x']);
});

test('a payload made by payload() is its frame already: the same bytes as encoding it, no second frame', () => {
  const frames = new TextFrames();
  for (const text of ['{"a":1}', 'é'.repeat(100), 'x'.repeat(70_000)]) {
    const payload = frames.payload(text);
    assert.equal(payload.toString('utf8'), text);
    const frame = frames.encode(payload);
    assert.deepEqual(frame, encodeTextFrame(Buffer.from(text)));
    assert.ok(frame.buffer === payload.buffer && payload.byteOffset === frame.byteOffset + frame.length - payload.length, 'the payload is the tail of its frame');
    assert.deepEqual(parse(frame), [text]);
  }
  // Once another payload was framed, it is framed anew (same bytes).
  const first = frames.payload('{"first":true}');
  frames.encode(Buffer.from('other'));
  assert.deepEqual(parse(frames.encode(first)), ['{"first":true}']);
});

test('a payload made by spliced() is the bytes up to the brace, then the tail, framed already', () => {
  const frames = new TextFrames();
  const tail = Buffer.from(',"from":"P"}');
  for (const size of [0, 110, 70_000]) {
    const bytes = Buffer.from(`{"a":"${'é'.repeat(size / 2)}"}  `);
    const end = bytes.lastIndexOf('}');
    const payload = frames.spliced(bytes, end, tail);
    const text = `{"a":"${'é'.repeat(size / 2)}","from":"P"}`;
    assert.equal(payload.toString('utf8'), text);
    const frame = frames.encode(payload);
    assert.ok(frame.buffer === payload.buffer && payload.byteOffset === frame.byteOffset + frame.length - payload.length, 'the payload is the tail of its frame');
    assert.deepEqual(parse(frame), [text]);
  }
});
