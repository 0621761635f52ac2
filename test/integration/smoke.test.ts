import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../helpers/client.js';
import { testServer, USERS } from '../helpers/server.js';

test('two peers join a room and exchange a message', async (t) => {
  const server = await testServer();
  t.after(() => server.stop());
  const a = await TestClient.join(server.port, 'room1', 'alice', USERS.alice);
  const b = await TestClient.join(server.port, 'room1', 'bob', USERS.bob);
  const joined = await a.next();
  assert.deepEqual(joined.json, { event: 'joined', data: { peer_id: b.peerId, username: 'bob' } });
  a.sendJson({ event: 'offer', data: { sdp: 'x' } });
  const got = await b.next();
  assert.deepEqual(got.json, { event: 'offer', data: { sdp: 'x' }, from: a.peerId });
});
