/**
 * The callback queue of a room is bounded in a real server: while a `join`
 * callback hangs, joins and leaves of that room queue up to 256; the rest
 * are dropped and counted in `webrtc_callbacks_dropped_total`. Real `ws`
 * clients on 127.0.0.1, port 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../helpers/client.js';
import { memoryLogger, testServer, USERS } from '../helpers/server.js';
import { MAX_QUEUED_PER_ROOM } from '../../src/rooms/callback-runner.js';
import { waitFor } from '../helpers/wait.js';

async function metric(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('a hanging join callback: the room queues 256 callbacks, drops and counts the rest, and runs the queued ones once it settles', async (t) => {
  let release: () => void = () => {};
  const calls: string[] = [];
  const { logger, lines } = memoryLogger('warn');
  const server = await testServer(
    {
      callbacks: {
        join: (_room, username) => {
          calls.push(`join ${username}`);
          if (calls.length === 1) return new Promise<void>((resolve) => (release = resolve));
          return Promise.resolve();
        },
        leave: (_room, username) => {
          calls.push(`leave ${username}`);
          return Promise.resolve();
        },
      },
    },
    logger,
  );
  t.after(() => server.stop());

  const first = await TestClient.join(server.port, 'busy', 'alice', USERS.alice);
  t.after(() => first.close());
  await waitFor(() => calls.length === 1, 10_000, 'the first join callback');

  // 140 more members come and go: 280 callbacks behind the hanging one.
  const cycles = 140;
  for (let i = 0; i < cycles; i += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => TestClient.join(server.port, 'busy', 'bob', USERS.bob)));
    for (const c of batch) c.close();
    await Promise.all(batch.map((c) => c.closed));
  }
  const expectedDrops = 2 * cycles - MAX_QUEUED_PER_ROOM;
  await waitFor(() => lines().some((l) => l.level === 40), 10_000, 'a warning about dropped callbacks');
  let count: number | undefined;
  for (let i = 0; i < 100 && count !== expectedDrops; i++) {
    count = await metric(server.port, 'webrtc_callbacks_dropped_total');
    if (count !== expectedDrops) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(count, expectedDrops, 'every callback past the 256 queued is counted');
  assert.equal(calls.length, 1, 'nothing ran while the first one hung');
  assert.equal(lines().filter((l) => l.level === 40).length, 1, 'one warning for the whole flood');

  release();
  await waitFor(() => calls.length === 1 + MAX_QUEUED_PER_ROOM, 10_000, 'the queued callbacks ran');
  // Batches of ten: ten joins, then ten leaves. The first 256 after the
  // hanging one were kept: 12 whole batches, then 10 joins and 6 leaves.
  const queued = calls.slice(1);
  assert.equal(queued.filter((c) => c === 'join bob').length, 130);
  assert.equal(queued.filter((c) => c === 'leave bob').length, 126);
});
