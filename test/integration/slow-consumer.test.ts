/**
 * A member that stops reading is closed (1008, `left` for the others) once
 * more than SLOW_CONSUMER_BYTES wait for it, instead of the server buffering
 * its frames without bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { SLOW_CONSUMER_BYTES } from '../../src/signaling/connection.actor.js';
import { TestClient } from '../helpers/client.js';
import { sleep, testServer, USERS } from '../helpers/server.js';

test('a member that stops reading is dropped once too much waits for it; the others see left', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const reader = await TestClient.join(server.port, 'slow', 'alice', USERS.alice);
  const stalled = await TestClient.join(server.port, 'slow', 'bob', USERS.bob);
  await reader.next(); // joined (bob)
  (stalled.ws as unknown as { _socket: Socket })._socket.pause(); // bob stops reading

  const chunk = 'x'.repeat(1024 * 1024);
  const limit = Math.ceil((SLOW_CONSUMER_BYTES * 4) / chunk.length); // kernel buffers absorb some first: bounded
  for (let i = 0; i < limit && server.peers('slow').length === 2; i++) {
    server.send(stalled.peerId!, 'bulk', chunk);
  }
  assert.deepEqual(server.peers('slow').map((p) => p.username), ['alice'], 'bob was dropped from the room');
  assert.deepEqual((await reader.next()).json, { event: 'left', data: { username: 'bob', peer_id: stalled.peerId } });
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  assert.match(metrics, /^webrtc_messages_dropped_total\{reason="slow_consumer"\} [1-9]/m);
  stalled.ws.terminate();
  reader.close();
});

/** Pauses the client's socket: the server's frames for it pile up unread. */
function stopReading(client: TestClient): void {
  (client.ws as unknown as { _socket: Socket })._socket.pause();
}
function resumeReading(client: TestClient): void {
  (client.ws as unknown as { _socket: Socket })._socket.resume();
}

test('an unknown "to" of attacker size is not echoed back: answers stay small whatever the input', async (t) => {
  const server = await testServer({ rateLimit: { perSecond: 1e6, burst: 1e6 } });
  t.after(() => server.stop());
  const attacker = await TestClient.join(server.port, 'echo', 'alice', USERS.alice);
  stopReading(attacker);
  const huge = 'p'.repeat(60_000);
  const frames = 200; // 12 MB of input; echoed, 12 MB would wait for a client that does not read
  for (let i = 0; i < frames; i++) attacker.sendJson({ to: huge, n: i });
  attacker.sendJson({ to: 'x'.repeat(64) });
  attacker.sendJson({ to: 'x'.repeat(65) });
  resumeReading(attacker);
  let bytes = 0;
  for (let i = 0; i < frames; i++) {
    const answer = await attacker.next(10_000);
    bytes += answer.text.length;
    assert.deepEqual(answer.json, { event: 'invalid_message', data: { reason: 'unknown_peer' } });
  }
  assert.ok(bytes < frames * 100, `answers total ${bytes} bytes`);
  assert.deepEqual((await attacker.next()).json.data, { reason: 'unknown_peer', peer_id: 'x'.repeat(64) }, 'a peer-id-sized "to" is echoed');
  assert.deepEqual((await attacker.next()).json.data, { reason: 'unknown_peer' }, 'one character longer is not');
  attacker.close();
});

test('answers to a client that does not read count against the slow-consumer limit: it is closed (1008), the others see left', async (t) => {
  const server = await testServer({ rateLimit: { perSecond: 1e9, burst: 1e9 } });
  t.after(() => server.stop());
  const other = await TestClient.join(server.port, 'answers', 'alice', USERS.alice);
  const stalled = await TestClient.join(server.port, 'answers', 'bob', USERS.bob);
  await other.next(); // joined (bob)
  stopReading(stalled);
  // Every frame gets an `invalid_message` answer (~60 bytes): more than SLOW_CONSUMER_BYTES of them
  // plus what kernel buffers absorb, sent in batches until the server gives up on the client (bounded).
  const frame = JSON.stringify({ to: 'nobody' });
  const maxFrames = Math.ceil((SLOW_CONSUMER_BYTES * 4) / 60);
  for (let sent = 0; sent < maxFrames && server.peers('answers').length === 2; sent += 5_000) {
    for (let i = 0; i < 5_000; i++) stalled.send(frame);
    for (let wait = 0; wait < 200 && stalled.ws.bufferedAmount > 0; wait++) await sleep(10); // let the server read them
  }
  assert.deepEqual(server.peers('answers').map((p) => p.username), ['alice'], 'bob was dropped from the room');
  assert.deepEqual((await other.next()).json, { event: 'left', data: { username: 'bob', peer_id: stalled.peerId } });
  stalled.ws.terminate();
  other.close();
});
