import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch, encodeBatch, PublishBatcher } from '../../src/cluster/publish-batcher.js';
import type { ChannelKind, FrameRecord } from '../../src/cluster/publish-batcher.js';

type Sent = { channel: string; records: FrameRecord[] }[];

function batcher(limits?: { maxRecords: number; maxBytes: number }): { b: PublishBatcher; turns: Sent[] } {
  const turns: Sent[] = [];
  const b = new PublishBatcher(
    'node-a',
    (messages) =>
      turns.push(
        messages.map(({ channel, message }) => {
          const decoded = decodeBatch(message);
          assert.equal(decoded.origin, 'node-a');
          return { channel, records: decoded.records };
        }),
      ),
    limits,
  );
  return { b, turns };
}

const rec = (tag: 'b' | 'u' | 'k', peer: string, text: string): FrameRecord => ({ tag, peer, frame: Buffer.from(text) });
const add = (b: PublishBatcher, channel: string, kind: ChannelKind, text: string, tag: 'b' | 'u' = kind === 'room' ? 'b' : 'u') => b.add(channel, kind, rec(tag, 'p', text));
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const texts = (sent: Sent) => sent.map((m) => `${m.channel}:${m.records.map((r) => r.frame.toString()).join(',')}`);

test('frames of one turn leave together at the end of it, one message per channel', async () => {
  const { b, turns } = batcher();
  add(b, 'r:a', 'room', '1');
  add(b, 'r:b', 'room', '2');
  add(b, 'r:a', 'room', '3');
  add(b, 'n:x', 'node', '4');
  add(b, 'n:y', 'node', '5');
  add(b, 'n:x', 'node', '6');
  assert.equal(turns.length, 0, 'nothing sent within the turn');
  await turn();
  assert.deepEqual(turns.map(texts), [['r:a:1,3', 'r:b:2', 'n:x:4,6', 'n:y:5']]);
  await turn();
  assert.equal(turns.length, 1, 'one send per turn');
});

test('a room frame never overtakes an earlier frame for a node, nor the other way round (order per sender)', async () => {
  const { b, turns } = batcher();
  add(b, 'r:a', 'room', 'b1'); // a broadcast by s
  add(b, 'n:x', 'node', 'u2'); // then a unicast by s to a member of room a on x
  add(b, 'r:a', 'room', 'b3'); // then a broadcast by s: must not join b1 ahead of u2
  add(b, 'n:x', 'node', 'u4'); // must not join u2 ahead of b3
  await turn();
  assert.deepEqual(turns.map(texts), [['r:a:b1', 'n:x:u2', 'r:a:b3', 'n:x:u4']]);
});

test('flush() sends at once (before a membership script); clear() drops what is gathered', async () => {
  const { b, turns } = batcher();
  add(b, 'r:a', 'room', '1');
  b.flush();
  assert.deepEqual(turns.map(texts), [['r:a:1']]);
  add(b, 'r:a', 'room', '2');
  b.clear();
  await turn();
  b.flush();
  assert.equal(turns.length, 1, 'nothing after clear()');
});

test('a turn holds at most maxRecords frames or maxBytes: past either it is sent at once, in order', async () => {
  const { b, turns } = batcher({ maxRecords: 3, maxBytes: 1_000 });
  for (let i = 0; i < 7; i++) add(b, 'r:a', 'room', String(i));
  assert.deepEqual(turns.map(texts), [['r:a:0,1,2'], ['r:a:3,4,5']], 'two full batches sent within the turn');
  await turn();
  assert.deepEqual(turns.map(texts).at(-1), ['r:a:6']);

  const big = batcher({ maxRecords: 100, maxBytes: 1_000 });
  add(big.b, 'n:x', 'node', 'x'.repeat(600));
  assert.equal(big.turns.length, 0);
  add(big.b, 'n:x', 'node', 'y'.repeat(600));
  assert.equal(big.turns.length, 1, 'sent once past maxBytes');
  assert.deepEqual(big.turns[0]![0]!.records.map((r) => r.frame.length), [600, 600]);
});

test('the codec keeps any bytes of a frame (newlines too), empty frames, and rejects malformed messages', () => {
  const records = [rec('b', '', 'with\nnewline\n'), rec('u', 'peer-1', '{"a":1}'), { tag: 'k' as const, peer: 'peer-2', frame: Buffer.alloc(0) }];
  const decoded = decodeBatch(encodeBatch('n1', records));
  assert.equal(decoded.origin, 'n1');
  assert.deepEqual(
    decoded.records.map((r) => [r.tag, r.peer, r.frame.toString()]),
    records.map((r) => [r.tag, r.peer, r.frame.toString()]),
  );
  assert.throws(() => decodeBatch(Buffer.from('n1')), /line without end/);
  assert.throws(() => decodeBatch(Buffer.from('n1\nzp\n1\nx')), /unknown record/);
  assert.throws(() => decodeBatch(Buffer.from('n1\nbp\n5\nxy')), /bad frame length/);
  assert.throws(() => decodeBatch(Buffer.from('n1\nbp\n-1\n')), /bad frame length/);
});
