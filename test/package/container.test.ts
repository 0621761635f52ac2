/**
 * The container (README "Container"): Dockerfile, .dockerignore, compose.yaml
 * and docker/healthcheck.mjs. The static checks and the health check script
 * run everywhere; building and running the image needs a container daemon
 * (`docker info` succeeds) and is skipped, saying so, where there is none.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { envName } from '../../src/config.js';
import { OPTION_NAMES } from '../../src/options.js';
import { ROOT, startDaemon } from '../helpers/daemon.js';
import { freePort, makeCert, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const IGNORED = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const KNOWN_ENV = new Set(OPTION_NAMES.map(envName));

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(): { keyword: string; args: string }[] {
  return DOCKERFILE.replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

test('Dockerfile: multi-stage, non-root, HEALTHCHECK with node, STOPSIGNAL SIGTERM, every COPY source exists', () => {
  const all = instructions();
  const froms = all.filter((i) => i.keyword === 'FROM');
  assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
  assert.match(froms[0]!.args, /^node:24[-\w.]*\s+AS\s+build$/i);
  assert.match(froms.at(-1)!.args, /^node:24[-\w.]*$/, 'the runtime stage is a Node 24 image (what the tests run on)');
  const runtime = all.slice(all.lastIndexOf(froms.at(-1)!));

  const user = runtime.filter((i) => i.keyword === 'USER').at(-1);
  assert.ok(user, 'the runtime stage sets USER');
  assert.ok(!['root', '0', '0:0'].includes(user.args), `USER ${user.args} is not root`);
  const health = runtime.find((i) => i.keyword === 'HEALTHCHECK');
  assert.ok(health, 'HEALTHCHECK');
  assert.match(health.args, /CMD \["node", "docker\/healthcheck\.mjs"\]/);
  assert.doesNotMatch(health.args, /curl|wget/);
  assert.equal(runtime.find((i) => i.keyword === 'STOPSIGNAL')?.args, 'SIGTERM');
  assert.match(runtime.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '', /^\["node", "dist\/src\/cli\.js"\]$/);
  assert.ok(existsSync(join(ROOT, 'src/cli.ts')), 'dist/src/cli.js is built from src/cli.ts');
  const build = all.slice(0, all.indexOf(froms[1]!));
  assert.ok(build.some((i) => i.keyword === 'RUN' && /npm run build/.test(i.args) && /npm prune --omit=dev/.test(i.args)), 'builds, then drops dev dependencies');

  // Every file copied from the context, or from the build stage's /app (the context plus dist and
  // node_modules), exists here and is not kept out of the context by .dockerignore.
  for (const copy of all.filter((i) => i.keyword === 'COPY')) {
    const words = copy.args.split(/\s+/);
    const fromBuild = words[0] === '--from=build';
    const paths = words.filter((w) => !w.startsWith('--')).slice(0, -1);
    for (const path of paths) {
      const relative = fromBuild ? path.replace(/^\/app\//, '') : path;
      if (fromBuild) assert.ok(path.startsWith('/app/'), `${path} is under the build stage's /app`);
      if (relative === '.' || (fromBuild && ['dist', 'node_modules'].includes(relative))) continue;
      assert.ok(existsSync(join(ROOT, relative)), `COPY ${path}: ${relative} exists`);
      assert.ok(!IGNORED.some((pattern) => relative === pattern || relative.startsWith(`${pattern}/`)), `${relative} is not in .dockerignore`);
    }
  }
  for (const needed of ['node_modules', 'dist', '.git']) assert.ok(IGNORED.includes(needed), `.dockerignore keeps ${needed} out of the context`);
});

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  network_mode?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  stop_grace_period?: string;
}

/** js-yaml comes with node-turn (a dependency); without it the YAML checks are skipped. */
async function yamlParser(): Promise<((text: string) => unknown) | null> {
  try {
    const mod = (await import('js-yaml' as string)) as { default?: Record<string, unknown> } & Record<string, unknown>;
    const api = (mod.default ?? mod) as { safeLoad?: (t: string) => unknown; load: (t: string) => unknown };
    return api.safeLoad ?? api.load;
  } catch {
    return null;
  }
}

test('compose.yaml: two servers of this image in one cluster with a Redis, on distinct ports, configured by known variables', async (t) => {
  const parse = await yamlParser();
  if (!parse) return t.skip('no YAML parser (js-yaml) in node_modules');
  const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> };
  const services = Object.entries(compose.services);
  const servers = services.filter(([, s]) => s.build !== undefined);
  assert.equal(servers.length, 2, 'two servers built from this Dockerfile');
  const [redisName, redis] = services.find(([, s]) => (s.image ?? '').startsWith('redis'))!;
  const redisPort = Number(redis.command![redis.command!.indexOf('--port') + 1]);
  assert.ok(redisPort > 0, 'Redis port');

  const used = new Set<string>();
  for (const [name, server] of servers) {
    const env = server.environment ?? {};
    for (const key of Object.keys(env)) assert.ok(KNOWN_ENV.has(key), `${name}: ${key} is an option's variable (an unknown one stops the daemon)`);
    assert.equal(env.WEBRTC_SERVER_REDIS_URL, `redis://127.0.0.1:${redisPort}`, `${name} joins the cluster through ${redisName}`);
    assert.ok(server.depends_on && redisName in server.depends_on, `${name} starts after ${redisName}`);
    assert.equal(server.network_mode, 'host', `${name}: host networking (dev mode listens on loopback)`);
    assert.match(server.stop_grace_period ?? '', /^(6[1-9]|[7-9]\d|\d{3,})s$/, `${name}: stop_grace_period above the 60 s drain`);
    for (const key of ['WEBRTC_SERVER_PORT', 'WEBRTC_SERVER_TURN_PORT', 'WEBRTC_SERVER_INSPECT']) {
      const port = env[key];
      assert.ok(port && Number(port) > 0, `${name}: ${key} is a fixed port (the health check and the README name it)`);
      const slot = `${key === 'WEBRTC_SERVER_TURN_PORT' ? 'udp' : 'tcp'}:${port}`;
      assert.ok(!used.has(slot), `${name}: ${slot} is not used twice`);
      used.add(slot);
    }
  }
  assert.ok(!used.has(`tcp:${redisPort}`), 'Redis has a port of its own');
});

test('docker/healthcheck.mjs: exit 0 while /healthz answers 200 (HTTP and HTTPS), 1 when nothing listens', async (t) => {
  const healthcheck = join(ROOT, 'docker/healthcheck.mjs');
  const check = (env: Record<string, string>) => spawnSync(process.execPath, [healthcheck], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 15_000 });

  const { port } = await startDaemon(t, ['--port', '0', '--turn-port', 'false']);
  assert.equal(check({ WEBRTC_SERVER_PORT: String(port) }).status, 0);
  assert.equal(check({ WEBRTC_SERVER_PORT: String(port), WEBRTC_SERVER_HOST: '0.0.0.0' }).status, 0, 'a wildcard host is checked on loopback');

  const { certfile, keyfile } = makeCert(tempDir(t));
  const tls = await startDaemon(t, ['--port', '0', '--turn-port', 'false', '--certfile', certfile, '--keyfile', keyfile]);
  assert.equal(check({ WEBRTC_SERVER_PORT: String(tls.port), WEBRTC_SERVER_CERTFILE: certfile }).status, 0, 'https, self-signed');

  const closed = await freePort();
  const down = check({ WEBRTC_SERVER_PORT: String(closed) });
  assert.equal(down.status, 1);
  assert.match(down.stderr, new RegExp(`http://127\\.0\\.0\\.1:${closed}/healthz: .*ECONNREFUSED`));
});

/** Why the image tests cannot run here, or null when a container daemon answers. */
function noDaemon(): string | null {
  const info = spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 20_000 });
  if (info.error) return `no docker CLI (${info.error.message}): image not built`;
  if (info.status !== 0) return `no reachable container daemon (\`docker info\` exited ${info.status}: ${info.stderr.trim().split('\n').at(-1)}): image not built`;
  return null;
}

const docker = async (args: string[], timeout = 60_000) => (await run('docker', args, { timeout, maxBuffer: 64 * 1024 * 1024 })).stdout.trim();

test('the image builds, runs as non-root, prints its version, becomes healthy and drains on docker stop', { skip: noDaemon() ?? false, timeout: 900_000 }, async (t: TestContext) => {
  const tag = `webrtc-server-test:${process.pid}`;
  await docker(['build', '-t', tag, ROOT], 600_000);
  t.after(() => docker(['rmi', '-f', tag]).catch(() => undefined));
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(await docker(['run', '--rm', tag, '--version']), version);
  assert.notEqual(await docker(['run', '--rm', '--entrypoint', 'id', tag, '-u']), '0', 'runs as a non-root user');

  const port = await freePort();
  const id = await docker(['run', '-d', '--network', 'host', '-e', `WEBRTC_SERVER_PORT=${port}`, '-e', 'WEBRTC_SERVER_TURN_PORT=0', tag]);
  t.after(() => docker(['rm', '-f', id]).catch(() => undefined));
  const health = () => docker(['inspect', '-f', '{{.State.Health.Status}}', id]);
  await waitFor(async () => (await health()) === 'healthy', 60_000, 'the container reports healthy', 1000);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

  // docker stop sends SIGTERM: a connected client is closed with 1001, and the daemon exits 0.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/websocket/drain`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await docker(['stop', '-t', '70', id], 90_000);
  assert.equal(await closed, 1001);
  assert.equal(await docker(['inspect', '-f', '{{.State.ExitCode}}', id]), '0');
  assert.match(await docker(['logs', id]), /"msg":"stopped"/);
});
