/**
 * A server that dies: real daemons (the CLI with --redis-url) on one real
 * redis-server. One is SIGKILLed; the others notice within 15 s (heartbeat
 * with expiry), its members leave their rooms (`left` to the rest), and the
 * `leave` callback runs once, on one of the survivors.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { joinUrl, tempDir } from '../helpers/fixtures.js';
import { RedisProcess, redisSkip } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

/** A callbacks module that appends one JSON line per call to `<name>.log` next to itself. */
function hooks(dir: string, name: string): { module: string; calls: () => unknown[][] } {
  const module = join(dir, `${name}.mjs`);
  const log = join(dir, `${name}.log`);
  writeFileSync(
    module,
    [
      "import { appendFileSync } from 'node:fs';",
      `const record = (kind) => (room, username, others) => appendFileSync(${JSON.stringify(log)}, JSON.stringify([kind, room, username, others]) + '\\n');`,
      "export const create = record('create');",
      "export const join = record('join');",
      "export const leave = record('leave');",
    ].join('\n'),
  );
  return { module, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown[]) : []) };
}

test('a SIGKILLed server: within 15 s its members leave their rooms everywhere, leave runs once', { skip: redisSkip, timeout: 60_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const dir = tempDir(t);
  const names = ['a', 'b', 'c'];
  const daemons: Awaited<ReturnType<typeof startDaemon>>[] = [];
  for (const name of names) {
    const { module } = hooks(dir, name);
    daemons.push(await startDaemon(t, ['--port', '0', '--turn-port', 'false', '--redis-url', redis.url, '--callbacks', JSON.stringify({ module })]));
  }
  const url = (i: number) => `ws://127.0.0.1:${daemons[i]!.port}/websocket/call`;
  for (const d of daemons) await waitFor(async () => (await fetch(`http://127.0.0.1:${d.port}/readyz`)).status === 200, 10_000, 'ready');
  const alice = await joinUrl(url(0), 'alice', 'demo');
  const bob = await joinUrl(url(1), 'bob', 'demo');
  const carol = await joinUrl(url(2), 'carol', 'demo');
  t.after(() => [alice, bob, carol].forEach((c) => c.ws.terminate()));
  for (let i = 0; i < 2; i++) await alice.next(5000); // joined bob, carol
  await bob.next(5000); // joined carol

  const killedAt = performance.now();
  daemons[1]!.daemon.proc.kill('SIGKILL');
  const left = { event: 'left', data: { username: 'bob', peer_id: bob.peerId } };
  assert.deepEqual((await alice.next(20_000)).json, left);
  const noticed = performance.now() - killedAt;
  assert.deepEqual((await carol.next(5000)).json, left);
  assert.ok(noticed < 15_000, `noticed after ${Math.round(noticed)} ms`);
  t.diagnostic(`the dead server's member left after ${Math.round(noticed)} ms`);

  const leaves = () => names.flatMap((name) => hooks(dir, name).calls().filter((c) => c[0] === 'leave').map((c) => [name, ...c]));
  await waitFor(() => leaves().length > 0, 5000, 'leave callback');
  await new Promise((r) => setTimeout(r, 500));
  const found = leaves();
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.deepEqual(found[0]!.slice(1), ['leave', 'call', 'bob', ['alice', 'carol']]);
  assert.notEqual(found[0]![0], 'b', 'run by a survivor');
});

/** A certificate for 127.0.0.1 (SAN IP), self-signed: it is its own CA. */
function certFor127(dir: string): { certfile: string; keyfile: string } {
  const certfile = join(dir, 'redis-cert.pem');
  const keyfile = join(dir, 'redis-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', keyfile, '-out', certfile], { stdio: 'ignore', timeout: 30_000 });
  return { certfile, keyfile };
}

/** Two daemons on `redisUrl`: a member of each, in one room, see each other. */
async function callAcross(t: TestContext, redisUrl: string, env: Record<string, string> = {}): Promise<void> {
  const daemons: Awaited<ReturnType<typeof startDaemon>>[] = [];
  for (let i = 0; i < 2; i++) daemons.push(await startDaemon(t, ['--port', '0', '--turn-port', 'false', '--redis-url', redisUrl], { env }));
  for (const d of daemons) await waitFor(async () => (await fetch(`http://127.0.0.1:${d.port}/readyz`)).status === 200, 15_000, 'ready');
  const alice = await joinUrl(`ws://127.0.0.1:${daemons[0]!.port}/websocket/r`, 'alice', 'demo');
  const bob = await joinUrl(`ws://127.0.0.1:${daemons[1]!.port}/websocket/r`, 'bob', 'demo');
  t.after(() => [alice, bob].forEach((c) => c.ws.terminate()));
  assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
  bob.sendJson({ to: alice.peerId, hello: 1 });
  assert.deepEqual((await alice.next(5000)).json, { to: alice.peerId, hello: 1, from: bob.peerId });
}

test('rediss:// (TLS to Redis): two servers share a room', { skip: redisSkip, timeout: 60_000 }, async (t) => {
  const tls = certFor127(tempDir(t));
  const redis = await RedisProcess.start(t, { tls });
  await callAcross(t, redis.url, { NODE_EXTRA_CA_CERTS: tls.certfile });
});

test('redis+sentinel://: two servers find the master through a Sentinel and share a room', { skip: redisSkip, timeout: 60_000 }, async (t) => {
  const master = await RedisProcess.start(t);
  const dir = tempDir(t);
  const config = join(dir, 'sentinel.conf');
  writeFileSync(config, `sentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel resolve-hostnames no\n`);
  const sentinel = await RedisProcess.start(t, { sentinelConfig: config });
  await callAcross(t, `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`);
});
