/**
 * The shipped example configuration (example/config/: webrtc-server.json,
 * auth.mjs, hooks.mjs, README "Example config file") runs as it is: the
 * daemon is spawned on it, with only the ports overridden by flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestClient } from '../helpers/client.js';
import { ROOT, startDaemon } from '../helpers/daemon.js';
import { authenticateOnce } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = join(ROOT, 'example/config/webrtc-server.json');

test('example/config: auth.mjs checks EXAMPLE_USERS, hooks.mjs sees create, join and leave', async (t) => {
  const config = JSON.parse(readFileSync(CONFIG, 'utf8')) as { auth: { module: string }; callbacks: { module: string } };
  for (const module of [config.auth.module, config.callbacks.module]) assert.ok(existsSync(join(ROOT, 'example/config', module)), module);

  const { daemon, port } = await startDaemon(t, ['--config', CONFIG, '--port', '0', '--turn-port', 'false'], {
    env: { EXAMPLE_USERS: 'alice:alice-secret, bob:bob:secret' },
  });
  const url = `ws://127.0.0.1:${port}/websocket/standup`;
  const demo = new TestClient(url);
  t.after(() => demo.close());
  await demo.opened;
  assert.equal(await authenticateOnce(demo, 'alice', 'demo'), 'unauthorized', 'not dev mode: the demo users are refused');

  const alice = await TestClient.join(port, 'standup', 'alice', 'alice-secret');
  const bob = await TestClient.join(port, 'standup', 'bob', 'bob:secret'); // a password may hold ':'
  bob.close();
  await bob.closed;
  alice.close();
  await alice.closed;
  const expected = [
    'hooks: create room="standup" user="alice" others=[]',
    'hooks: join room="standup" user="alice" others=[]',
    'hooks: join room="standup" user="bob" others=["alice"]',
    'hooks: leave room="standup" user="bob" others=["alice"]',
    'hooks: leave room="standup" user="alice" others=[]',
  ];
  const hookLines = () => daemon.stderr.split('\n').filter((l) => l.startsWith('hooks: '));
  await waitFor(() => hookLines().length >= expected.length, 5000, 'five hook lines');
  assert.deepEqual(hookLines(), expected);
});
