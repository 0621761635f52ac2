/**
 * The daemon (docs/configuration.md: "The daemon", "Config file", "Dev mode"): the built
 * `dist/src/cli.js` spawned as a real process, always on 127.0.0.1 and port 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_USERS } from '../../src/auth/authenticator.js';
import { parseOptions } from '../../src/options.js';
import { TestClient } from '../helpers/client.js';
import { within } from '../helpers/protocol.js';
import { assertRefused, listeningLines, ROOT, runDaemonToExit, spawnDaemon, startDaemon } from '../helpers/daemon.js';
import {
  authenticateOnce, failedAuthsUntilClose, freePort, joinUrl, makeCert, tempDir,
} from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const LOCAL = ['--port', '0', '--turn-port', 'false'];
const PINO_WARN = 40;

/** A callbacks module that appends one JSON line per call to `calls.log` next to itself. */
function writeHooks(dir: string, name = 'hooks.mjs'): { module: string; log: string } {
  const module = join(dir, name);
  writeFileSync(
    module,
    [
      "import { appendFileSync } from 'node:fs';",
      "const log = new URL('./calls.log', import.meta.url);",
      'const record = (kind) => (room, username, others) => {',
      '  appendFileSync(log, JSON.stringify([kind, room, username, others]) + "\\n");',
      '};',
      "export const create = record('create');",
      "export const join = record('join');",
      "export const leave = record('leave');",
      '',
    ].join('\n'),
  );
  return { module, log: join(dir, 'calls.log') };
}

function readCalls(log: string): unknown[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const url = (port: number, room: string, scheme = 'ws') => `${scheme}://127.0.0.1:${port}/websocket/${encodeURIComponent(room)}`;

test('dev mode (no auth): binds 127.0.0.1, warns naming the demo users, and a demo user can authenticate', async (t) => {
  const { daemon, port } = await startDaemon(t, LOCAL);
  const listening = listeningLines(daemon);
  assert.equal(listening.length, 1, 'one "signaling listening" line for the one listener');
  assert.equal(listening[0]!.host, '127.0.0.1');
  assert.equal(typeof port, 'number');
  assert.ok(port > 0, 'the real port, not 0');
  assert.ok(String(listening[0]!.url).startsWith(`ws://127.0.0.1:${port}`), listening[0]!.url);

  const warning = daemon.lines.find((l) => l.level === PINO_WARN && Object.keys(DEV_USERS).every((u) => JSON.stringify(l).includes(u)));
  assert.ok(warning, `a warning naming the demo users ${Object.keys(DEV_USERS).join(', ')}\n${daemon.describe()}`);
  for (const password of Object.values(DEV_USERS)) assert.ok(JSON.stringify(warning).includes(password), 'the demo password is printed');
  assert.match(JSON.stringify(warning), /production/i, 'warns it is not for production');

  // The logged address is the real one: a demo user authenticates there.
  const alice = await joinUrl(url(port, 'dev'), 'alice', 'demo');
  t.after(() => alice.close());
  assert.match(alice.peerId!, /^[A-Za-z0-9+/]{14}==$/);
  const bob = await joinUrl(url(port, 'dev'), 'bob', DEV_USERS.bob!);
  t.after(() => bob.close());
  const joined = await alice.next(5000);
  assert.deepEqual(joined.json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
  const wrong = new TestClient(url(port, 'dev'));
  t.after(() => wrong.close());
  await within(wrong.opened, 5000, 'open');
  assert.equal(await authenticateOnce(wrong, 'alice', 'not-demo'), 'unauthorized');
});

test('--host 0.0.0.0 without auth is refused before listening, naming "host"', async (t) => {
  await assertRefused(t, ['--host', '0.0.0.0', ...LOCAL], 'host');
});

test('invalid option values exit 2 naming the option', async (t) => {
  // --port abc: the flag beats WEBRTC_SERVER_PORT=0, so a daemon that ignored
  // the bad value could never end up on a fixed port.
  await assertRefused(t, ['--port', 'abc', '--turn-port', 'false'], 'port', { WEBRTC_SERVER_PORT: '0' });
  await assertRefused(t, [...LOCAL, '--idle-timeout', '-5'], 'idleTimeout');
  await assertRefused(t, [...LOCAL, '--rate-limit', 'notjson'], 'rateLimit');
  await assertRefused(t, [...LOCAL, '--log-level', 'loud'], 'logLevel');
  await assertRefused(t, LOCAL, 'maxAuthAttempts', { WEBRTC_SERVER_MAX_AUTH_ATTEMPTS: 'lots' });

  const dir = tempDir(t);
  const typo = join(dir, 'typo.json');
  writeFileSync(typo, JSON.stringify({ port: 0, turnPort: false, colour: 'red' }));
  await assertRefused(t, ['--config', typo], 'colour');

  const nested = join(dir, 'nested.json');
  writeFileSync(nested, JSON.stringify({ port: 0, turnPort: false, rateLimit: { perSecond: 5, burst: 10, brust: 3 } }));
  const { code, daemon } = await runDaemonToExit(t, ['--config', nested]);
  assert.equal(code, 2, daemon.describe());
  assert.match(daemon.stderr, /invalid option "[^"]*brust[^"]*"/, daemon.describe());
});

test('an unknown flag exits non-zero naming it', async (t) => {
  const { code, signal, daemon } = await runDaemonToExit(t, [...LOCAL, '--bogus-flag', '1']);
  assert.equal(signal, null, daemon.describe());
  assert.notEqual(code, 0, daemon.describe());
  assert.notEqual(code, null);
  assert.match(daemon.stderr, /--bogus-flag/, daemon.describe());
  assert.equal(listeningLines(daemon).length, 0);
});

test('an unreadable or non-JSON config file exits non-zero naming the file', async (t) => {
  const dir = tempDir(t);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "port": 0, ');
  const bad = await runDaemonToExit(t, ['--config', broken]);
  assert.notEqual(bad.code, 0, bad.daemon.describe());
  assert.notEqual(bad.code, null);
  assert.ok(bad.daemon.stderr.includes(broken), bad.daemon.describe());

  const missing = join(dir, 'missing.json');
  const gone = await runDaemonToExit(t, ['--config', missing]);
  assert.notEqual(gone.code, 0, gone.daemon.describe());
  assert.notEqual(gone.code, null);
  assert.ok(gone.daemon.stderr.includes(missing), gone.daemon.describe());
});

test('config file: auth.users', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'users.json');
  writeFileSync(config, JSON.stringify({ port: 0, turnPort: false, auth: { users: { zoe: 'zoe-pw' } } }));
  const { daemon, port } = await startDaemon(t, ['--config', config]);
  assert.equal(daemon.lines.filter((l) => l.level === PINO_WARN && /dev/i.test(String(l.msg))).length, 0, 'no dev-mode warning with auth');
  const zoe = await joinUrl(url(port, 'r'), 'zoe', 'zoe-pw');
  t.after(() => zoe.close());
  const demo = new TestClient(url(port, 'r'));
  t.after(() => demo.close());
  await within(demo.opened, 5000, 'open');
  assert.equal(await authenticateOnce(demo, 'alice', 'demo'), 'unauthorized', 'demo users are not accepted once auth is set');
  assert.equal(await authenticateOnce(demo, 'zoe', 'nope'), 'unauthorized');
});

test('config file: relative auth.module and callbacks.module resolve against the config file folder', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'conf');
  const lib = join(conf, 'lib');
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(lib, { recursive: true });
  mkdirSync(elsewhere);
  writeFileSync(
    join(lib, 'auth.mjs'),
    "export function passwordFor(u) { return u === 'mia' ? 'mia-pw' : u === 'ned' ? Promise.resolve('ned-pw') : undefined; }\n" +
      "export function other() { return 'x'; }\n",
  );
  const { log } = writeHooks(lib);
  writeFileSync(
    join(conf, 'modules.json'),
    JSON.stringify({
      port: 0,
      turnPort: false,
      auth: { module: './lib/auth.mjs', export: 'passwordFor' },
      callbacks: { module: './lib/hooks.mjs' },
    }),
  );
  // Started from another folder, with the config path relative to it: the
  // modules' paths must resolve against the config file's folder, not cwd.
  const { port } = await startDaemon(t, ['--config', '../conf/modules.json'], { cwd: elsewhere });

  const mia = await joinUrl(url(port, 'room'), 'mia', 'mia-pw');
  const ned = await joinUrl(url(port, 'room'), 'ned', 'ned-pw');
  t.after(() => {
    mia.close();
    ned.close();
  });
  const wrong = new TestClient(url(port, 'room'));
  t.after(() => wrong.close());
  await within(wrong.opened, 5000, 'open');
  assert.equal(await authenticateOnce(wrong, 'mia', 'x'), 'unauthorized', 'the named export is used, not another one');

  await within(mia.next(5000), 5000, 'joined');
  mia.close();
  const left = await ned.next(5000);
  assert.deepEqual(left.json, { event: 'left', data: { username: 'mia', peer_id: mia.peerId } });
  ned.close();
  const calls = await waitFor(() => (readCalls(log).length >= 5 ? readCalls(log) : null), 5000, 'five callback calls');
  assert.deepEqual(calls, [
    ['create', 'room', 'mia', []],
    ['join', 'room', 'mia', []],
    ['join', 'room', 'ned', ['mia']],
    ['leave', 'room', 'mia', ['ned']],
    ['leave', 'room', 'ned', []],
  ]);
});

test('environment variables configure the daemon (WEBRTC_SERVER_PORT, WEBRTC_SERVER_AUTH)', async (t) => {
  const dir = tempDir(t);
  // The file says port 0: if the environment were ignored the daemon would
  // land on a random port (never on a fixed default).
  const config = join(dir, 'base.json');
  writeFileSync(config, JSON.stringify({ port: 0, turnPort: false }));
  const wanted = await freePort();
  const { port } = await startDaemon(t, ['--config', config], {
    env: { WEBRTC_SERVER_PORT: String(wanted), WEBRTC_SERVER_AUTH: JSON.stringify({ users: { zed: 'zed-pw' } }) },
  });
  assert.equal(port, wanted);
  const zed = await joinUrl(url(port, 'env'), 'zed', 'zed-pw');
  t.after(() => zed.close());
  const demo = new TestClient(url(port, 'env'));
  t.after(() => demo.close());
  await within(demo.opened, 5000, 'open');
  assert.equal(await authenticateOnce(demo, 'alice', 'demo'), 'unauthorized', 'WEBRTC_SERVER_AUTH turned dev mode off');
});

test('precedence flag > env > file > default, observed through maxAuthAttempts', async (t) => {
  const dir = tempDir(t);
  const plain = join(dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ port: 0, turnPort: false }));
  const withFile = join(dir, 'file.json');
  writeFileSync(withFile, JSON.stringify({ port: 0, turnPort: false, maxAuthAttempts: 4 }));
  const env = { WEBRTC_SERVER_MAX_AUTH_ATTEMPTS: '3' };

  const cases: { name: string; args: string[]; env: Record<string, string>; expected: number }[] = [
    { name: 'default', args: ['--config', plain], env: {}, expected: 5 },
    { name: 'file', args: ['--config', withFile], env: {}, expected: 4 },
    { name: 'env over file', args: ['--config', withFile], env, expected: 3 },
    { name: 'flag over env and file', args: ['--config', withFile, '--max-auth-attempts', '2'], env, expected: 2 },
  ];
  for (const c of cases) {
    const { daemon, port } = await startDaemon(t, c.args, { env: c.env });
    const client = new TestClient(url(port, 'p'));
    await within(client.opened, 5000, 'open');
    const outcome = await failedAuthsUntilClose(client);
    assert.deepEqual(outcome, { unauthorized: c.expected, code: 1008 }, c.name);
    await daemon.kill();
  }
});

test('TLS: --certfile/--keyfile serve wss:// and the log line says wss', async (t) => {
  const dir = tempDir(t);
  const { certfile, keyfile } = makeCert(dir);
  const { port, listening } = await startDaemon(t, [...LOCAL, '--certfile', certfile, '--keyfile', keyfile]);
  assert.equal(listening.host, '127.0.0.1');
  assert.ok(String(listening.url).startsWith(`wss://127.0.0.1:${port}`), listening.url);
  const alice = await joinUrl(url(port, 'tls', 'wss'), 'alice', 'demo', { rejectUnauthorized: false });
  t.after(() => alice.close());
  const bob = await joinUrl(url(port, 'tls', 'wss'), 'bob', 'demo', { rejectUnauthorized: false });
  t.after(() => bob.close());
  assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
});

test('SIGTERM drains: clients closed with 1001, left before close, leave callbacks ran, exit 0', async (t) => {
  const dir = tempDir(t);
  const { module, log } = writeHooks(dir);
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  const alice = await joinUrl(url(port, 'drain'), 'alice', 'demo');
  const bob = await joinUrl(url(port, 'drain'), 'bob', 'demo');
  t.after(() => {
    alice.close();
    bob.close();
  });
  assert.equal((await alice.next(5000)).json?.event, 'joined');
  await waitFor(() => readCalls(log).length >= 3, 5000, 'create and join callbacks');

  // One sequence for every frame and close seen by either client.
  let seq = 0;
  const seen = new Map<TestClient, { frames: { seq: number; json: any }[]; closeSeq: number | null }>();
  for (const c of [alice, bob]) {
    const record = { frames: [] as { seq: number; json: any }[], closeSeq: null as number | null };
    seen.set(c, record);
    c.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let json: unknown;
      try {
        json = JSON.parse(data.toString());
      } catch {
        json = data.toString();
      }
      record.frames.push({ seq: seq++, json });
    });
    c.ws.once('close', () => {
      record.closeSeq = seq++;
    });
  }

  daemon.proc.kill('SIGTERM');
  const [aliceClose, bobClose] = await within(Promise.all([alice.closed, bob.closed]), 15_000, 'both clients closed');
  assert.equal(aliceClose.code, 1001);
  assert.equal(bobClose.code, 1001);
  const exit = await daemon.waitForExit(15_000);
  assert.deepEqual(exit, { code: 0, signal: null }, daemon.describe());

  // Which one left first is the server's choice: the leave callbacks, run in
  // the room's order, tell. (The two sockets' close events may reach this
  // process in either order, so they cannot tell.)
  const leaves = readCalls(log).filter((c) => (c as unknown[])[0] === 'leave') as [string, string, string, string[]][];
  assert.equal(leaves.length, 2, `two leave callbacks: ${JSON.stringify(readCalls(log))}`);
  const firstName = leaves[0]![2];
  assert.ok(firstName === 'alice' || firstName === 'bob', firstName);
  const secondName = firstName === 'alice' ? 'bob' : 'alice';
  assert.deepEqual(leaves, [
    ['leave', 'drain', firstName, [secondName]],
    ['leave', 'drain', secondName, []],
  ]);
  const first = firstName === 'alice' ? alice : bob;
  const second = firstName === 'alice' ? bob : alice;
  const secondRecord = seen.get(second)!;
  const frames = JSON.stringify({ alice: seen.get(alice), bob: seen.get(bob) });
  const left = secondRecord.frames.find((f) => f.json?.event === 'left');
  assert.ok(left, `${secondName} got left for ${firstName}: ${frames}`);
  assert.deepEqual(left.json, { event: 'left', data: { username: firstName, peer_id: first.peerId } });
  assert.ok(left.seq < secondRecord.closeSeq!, `the left arrived before the close: ${frames}`);
});

test('SIGINT drains too and exits 0', async (t) => {
  const { daemon, port } = await startDaemon(t, LOCAL);
  const alice = await joinUrl(url(port, 'int'), 'alice', 'demo');
  t.after(() => alice.close());
  daemon.proc.kill('SIGINT');
  const close = await within(alice.closed, 15_000, 'client closed');
  assert.equal(close.code, 1001);
  assert.deepEqual(await daemon.waitForExit(15_000), { code: 0, signal: null }, daemon.describe());
});

test('--log-level warn: the dev warning is printed, info lines are not', async (t) => {
  const wanted = await freePort();
  const daemon = spawnDaemon(t, ['--port', String(wanted), '--turn-port', 'false', '--log-level', 'warn']);
  await daemon.waitForLine((l) => l.level === PINO_WARN, 15_000, 'the dev-mode warning');
  // It logs nothing at info, so find out it is up by using it.
  let client: TestClient | null = null;
  for (let i = 0; i < 100 && !client && !daemon.exit; i++) {
    client = await joinUrl(url(wanted, 'quiet'), 'alice', 'demo').catch(() => null);
    if (!client) await new Promise((r) => setTimeout(r, 100));
  }
  t.after(() => client?.close());
  assert.ok(client, `the daemon accepts on ${wanted}\n${daemon.describe()}`);
  assert.deepEqual(daemon.lines.filter((l) => !(l.level >= PINO_WARN)), [], 'no line below warn');
});

test('npm start (no arguments) means the embedded defaults: port 8080', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.scripts.start, 'node dist/src/cli.js');
  assert.equal(pkg.bin['webrtc-server'], 'dist/src/cli.js');
  const defaults = parseOptions({});
  assert.equal(defaults.port, 8080);
  assert.equal(defaults.host, '127.0.0.1', 'dev mode: loopback');
  assert.equal(defaults.turnPort, 3478);
  assert.equal(parseOptions({ certfile: '/c.pem', keyfile: '/k.pem' }).port, 8443, 'TLS default port');
  assert.equal(parseOptions({ auth: { users: { a: 'b' } } }).host, '0.0.0.0', 'with auth: every interface');
});

test('--inspect=PORT starts the inspector relay on 127.0.0.1 and logs its address; the relay serves the inspector page', async (t) => {
  const inspectPort = await freePort();
  const { daemon } = await startDaemon(t, [...LOCAL, `--inspect=${inspectPort}`]);
  const line = await daemon.waitForLine((l) => l.msg === 'inspector relay listening', 15_000, '"inspector relay listening" line');
  assert.equal(line.host, '127.0.0.1');
  assert.equal(line.port, inspectPort);
  assert.equal(line.url, `http://127.0.0.1:${inspectPort}/`);
  const page = await (await fetch(line.url)).text();
  assert.match(page, new RegExp(`new WebSocket\\('ws://127\\.0\\.0\\.1:${inspectPort}'\\)`));
});
