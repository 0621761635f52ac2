import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { WriteCoalescer } from '../../src/signaling/write-coalescer.js';

test('frames written within one turn of the event loop stay corked until its end (check phase), then leave together', async (t) => {
  const received: Buffer[] = [];
  let peer!: Socket;
  const server = createServer((s) => {
    peer = s;
    s.on('data', (d) => received.push(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  t.after(() => {
    client.destroy();
    peer?.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  await new Promise<void>((r) => client.once('connect', () => r()));

  const coalescer = new WriteCoalescer();
  coalescer.hold(client);
  coalescer.hold(client); // corked once only
  assert.equal(client.writableCorked, 1);
  client.write('a');
  client.write('b');
  client.write('c');
  assert.equal(client.writableLength, 3, 'nothing left the process yet');
  await new Promise<void>((r) => process.nextTick(r));
  assert.equal(client.writableCorked, 1, 'still corked after the I/O callback that wrote (other senders of this turn may add frames)');
  client.write('d');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(client.writableCorked, 0, 'uncorked at the end of the turn');
  const deadline = Date.now() + 2000;
  while (Buffer.concat(received).toString() !== 'abcd' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Buffer.concat(received).toString(), 'abcd');
});
