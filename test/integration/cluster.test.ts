/**
 * Rooms that span servers (`redisUrl`): two and three servers on one real
 * redis-server, real `ws` clients, every row of the protocol across them.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../helpers/client.js';
import { authFrame, nextJson } from '../helpers/protocol.js';
import { RedisProcess, redisSkip } from '../helpers/redis.js';
import { testServer, USERS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import type { Options } from '../../src/index.js';

type Server = Awaited<ReturnType<typeof testServer>>;

async function servers(t: TestContext, n: number, options: Options = {}): Promise<{ redis: RedisProcess; nodes: Server[] }> {
  const redis = await RedisProcess.start(t);
  const nodes: Server[] = [];
  for (let i = 0; i < n; i++) {
    const server = await testServer({ redisUrl: redis.url, ...options });
    t.after(() => server.stop());
    nodes.push(server);
  }
  for (const node of nodes) await waitFor(() => node.health().ready, 10_000, 'cluster ready');
  return { redis, nodes };
}

const joined = (c: TestClient, username: string) => ({ event: 'joined', data: { peer_id: c.peerId, username } });
const left = (c: TestClient, username: string) => ({ event: 'left', data: { username, peer_id: c.peerId } });

describe('a room across servers', { skip: redisSkip }, () => {
  test('joined, authenticated with peers, broadcast, unicast, left, peers in join order', async (t) => {
    const { nodes: [a, b] } = await servers(t, 2);
    const alice = await TestClient.join(a!.port, 'split', 'alice', USERS.alice);
    const bob = await TestClient.open(b!.port, 'split');
    bob.sendJson(authFrame('bob', USERS.bob));
    const auth = await nextJson(bob, 5000);
    bob.peerId = auth.data.peer_id;
    assert.deepEqual(auth.data.peers, [{ peer_id: alice.peerId, username: 'alice' }]);
    assert.deepEqual((await alice.next(5000)).json, joined(bob, 'bob'));
    const order = [a!, b!].map((s) => s.peers('split'));
    for (const peers of order) assert.deepEqual(peers, [{ peerId: alice.peerId, username: 'alice' }, { peerId: bob.peerId, username: 'bob' }]);

    alice.sendJson({ event: 'offer', data: { sdp: 'x' } });
    assert.deepEqual((await bob.next(5000)).json, { event: 'offer', data: { sdp: 'x' }, from: alice.peerId });
    bob.sendJson({ event: 'answer', to: alice.peerId });
    assert.deepEqual((await alice.next(5000)).json, { event: 'answer', to: alice.peerId, from: bob.peerId });
    bob.sendJson({ event: 'x', to: 'nobody-here' });
    assert.deepEqual((await bob.next(5000)).json, { event: 'invalid_message', data: { reason: 'unknown_peer', peer_id: 'nobody-here' } });

    bob.close();
    assert.deepEqual((await alice.next(5000)).json, left(bob, 'bob'));
    await waitFor(() => a!.peers('split').length === 1 && b!.peers('split').length === 1, 5000, 'peers updated everywhere');
    alice.close();
  });
});
