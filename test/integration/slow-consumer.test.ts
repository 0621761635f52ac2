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
import { testServer, USERS } from '../helpers/server.js';

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
