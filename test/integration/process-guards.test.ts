/**
 * Process guards (`src/process-guard.ts`): the daemon contains stray
 * rejections and uncaught exceptions from user code, drains and exits 70
 * after more than 5 within 60 s, and never exits 0 when user code calls
 * `process.exit()`. Real daemons (and one embedding process) on 127.0.0.1,
 * port 0, with a callbacks module written to a temp folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TestClient } from '../helpers/client.js';
import { within } from '../helpers/protocol.js';
import { Daemon, ROOT, startDaemon } from '../helpers/daemon.js';
import type { LogLine } from '../helpers/daemon.js';
import { joinUrl, tempDir } from '../helpers/fixtures.js';
import { memoryLogger, testServer } from '../helpers/server.js';
import { installProcessGuards } from '../../src/process-guard.js';
import { waitFor } from '../helpers/wait.js';

const LOCAL = ['--port', '0', '--turn-port', 'false'];
const PINO_ERROR = 50;
const PINO_FATAL = 60;

/**
 * A callbacks module whose `join` misbehaves by room name:
 * `stray-rejection` leaves a rejected promise behind, `throw-N` starts N
 * timers that throw, `exit-N` calls process.exit(N). Other rooms are calm.
 */
function writeHooks(dir: string): string {
  const module = join(dir, 'hooks.mjs');
  writeFileSync(
    module,
    [
      'export function join(room, username) {',
      "  if (room === 'stray-rejection') { Promise.reject(new Error(`stray rejection in join of ${username}`)); return; }",
      '  const throws = /^throw-(\\d+)$/.exec(room);',
      '  if (throws) { for (let i = 0; i < Number(throws[1]); i++) setTimeout(() => { throw new Error(`throwing timer ${i} in join of ${username}`); }); return; }',
      '  const exits = /^exit-(\\d+)$/.exec(room);',
      '  if (exits) process.exit(Number(exits[1]));',
      '}',
      '',
    ].join('\n'),
  );
  return module;
}

const url = (port: number, room: string) => `ws://127.0.0.1:${port}/websocket/${encodeURIComponent(room)}`;

async function metric(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Two new clients authenticate in a calm room and a message flows between them. */
async function stillServes(port: number, room: string): Promise<void> {
  const bob = await joinUrl(url(port, room), 'bob', 'demo');
  const carol = await joinUrl(url(port, room), 'carol', 'demo');
  try {
    assert.equal((await bob.next(5000)).json?.event, 'joined');
    carol.sendJson({ event: 'hello', data: room });
    assert.deepEqual((await bob.next(5000)).json, { event: 'hello', data: room, from: carol.peerId });
  } finally {
    bob.close();
    carol.close();
  }
}

const errorLines = (daemon: Daemon, kind: string): LogLine[] => daemon.lines.filter((l) => l.level === PINO_ERROR && l.kind === kind);

test('a stray rejection in a join callback is logged with the error and contained: new clients authenticate, messages flow, SIGTERM still exits 0', async (t) => {
  const module = writeHooks(tempDir(t));
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  const alice = await joinUrl(url(port, 'stray-rejection'), 'alice', 'demo');
  t.after(() => alice.close());
  const line = await daemon.waitForLine((l) => l.level === PINO_ERROR && l.kind === 'unhandled_rejection', 10_000, 'the unhandled rejection, logged at error');
  assert.equal(line.err?.message, 'stray rejection in join of alice', JSON.stringify(line));
  assert.match(String(line.err?.stack), /hooks\.mjs/, 'with the stack');

  await stillServes(port, 'calm');
  assert.equal(daemon.exit, null, daemon.describe());
  assert.equal(await metric(port, 'webrtc_process_errors_total{kind="unhandled_rejection"}'), 1);
  assert.equal(await metric(port, 'webrtc_process_errors_total{kind="uncaught_exception"}'), 0);

  daemon.proc.kill('SIGTERM');
  assert.equal((await within(alice.closed, 15_000, 'alice closed')).code, 1001);
  assert.deepEqual(await daemon.waitForExit(15_000), { code: 0, signal: null }, daemon.describe());
  assert.equal(daemon.lines.filter((l) => l.level === PINO_FATAL).length, 0, 'our own drain is not taken for user code');
});

test('a timer that throws inside a join callback is logged with the error and contained: new clients authenticate, messages flow', async (t) => {
  const module = writeHooks(tempDir(t));
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  const alice = await joinUrl(url(port, 'throw-1'), 'alice', 'demo');
  t.after(() => alice.close());
  const line = await daemon.waitForLine((l) => l.level === PINO_ERROR && l.kind === 'uncaught_exception', 10_000, 'the uncaught exception, logged at error');
  assert.equal(line.err?.message, 'throwing timer 0 in join of alice', JSON.stringify(line));

  await stillServes(port, 'calm');
  alice.send('ping'); // the socket whose callback threw still works too
  assert.equal((await alice.next(5000)).text, 'pong');
  assert.equal(daemon.exit, null, daemon.describe());
  assert.equal(await metric(port, 'webrtc_process_errors_total{kind="uncaught_exception"}'), 1);
});

test('more than 5 uncaught errors within 60 s is fatal: a fatal line, clients closed 1001 by the drain, exit 70', async (t) => {
  const module = writeHooks(tempDir(t));
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  // Five are tolerated.
  const alice = await joinUrl(url(port, 'throw-5'), 'alice', 'demo');
  t.after(() => alice.close());
  await waitFor(() => errorLines(daemon, 'uncaught_exception').length === 5, 10_000, 'five uncaught exceptions logged');
  await stillServes(port, 'calm');
  assert.equal(daemon.exit, null, daemon.describe());
  assert.equal(await metric(port, 'webrtc_process_errors_total{kind="uncaught_exception"}'), 5);

  // The sixth within the window is not.
  const dave = await joinUrl(url(port, 'throw-1'), 'dave', 'demo');
  t.after(() => dave.close());
  const fatal = await daemon.waitForLine((l) => l.level === PINO_FATAL, 10_000, 'the fatal line');
  assert.equal(fatal.err?.message, 'throwing timer 0 in join of dave', JSON.stringify(fatal));
  assert.match(String(fatal.msg), /more than 5 uncaught errors within 60000 ms/);
  const [aliceClose, daveClose] = await within(Promise.all([alice.closed, dave.closed]), 15_000, 'clients closed by the drain');
  assert.equal(aliceClose.code, 1001);
  assert.equal(daveClose.code, 1001);
  assert.deepEqual(await daemon.waitForExit(15_000), { code: 70, signal: null }, daemon.describe());
  assert.ok(daemon.lines.some((l) => l.msg === 'stopped'), `the server drained before exiting\n${daemon.describe()}`);
});

test('user code calling process.exit(0) while the server runs ends with status 70 and a fatal line saying so', async (t) => {
  const module = writeHooks(tempDir(t));
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  const client = new TestClient(url(port, 'exit-0'));
  t.after(() => client.close());
  await within(client.opened, 10_000, 'open');
  client.sendJson({ event: 'authenticate', data: { username: 'alice', password: 'demo' } });
  const exit = await daemon.waitForExit(15_000);
  assert.deepEqual(exit, { code: 70, signal: null }, daemon.describe());
  const fatal = daemon.lines.find((l) => l.level === PINO_FATAL);
  assert.ok(fatal, `a fatal line\n${daemon.describe()}`);
  assert.match(String(fatal.msg), /user code called process\.exit\(0\)/);
});

test('user code calling process.exit(3) keeps its non-zero status, with the fatal line', async (t) => {
  const module = writeHooks(tempDir(t));
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--callbacks', JSON.stringify({ module })]);
  const client = new TestClient(url(port, 'exit-3'));
  t.after(() => client.close());
  await within(client.opened, 10_000, 'open');
  client.sendJson({ event: 'authenticate', data: { username: 'alice', password: 'demo' } });
  assert.deepEqual(await daemon.waitForExit(15_000), { code: 3, signal: null }, daemon.describe());
  assert.ok(daemon.lines.some((l) => l.level === PINO_FATAL && /process\.exit\(3\)/.test(String(l.msg))), daemon.describe());
});

test('the library installs no process-wide handler; installProcessGuards adds its own and the returned function removes them', async (t) => {
  const events = ['unhandledRejection', 'uncaughtException', 'exit', 'beforeExit'] as const;
  const counts = () => events.map((e) => process.listenerCount(e));
  const before = counts();
  const { logger } = memoryLogger(); // (pino's own stdout destination would add its flush-on-exit hook)
  const server = await testServer({}, logger);
  t.after(() => server.stop());
  assert.deepEqual(counts(), before, 'startServer installs none');
  const uninstall = installProcessGuards(server, logger);
  assert.deepEqual(counts(), before.map((n) => n + 1), 'one listener per event');
  uninstall();
  uninstall(); // idempotent
  assert.deepEqual(counts(), before);
});

test('an embedder that opts in: stray rejections are contained, and past the intensity the default drains the server and exits 70', async (t) => {
  const dir = tempDir(t);
  const script = join(dir, 'embed.mjs');
  const index = pathToFileURL(join(ROOT, 'dist/src/index.js')).href;
  const pinoUrl = pathToFileURL(join(ROOT, 'node_modules/pino/pino.js')).href;
  writeFileSync(
    script,
    [
      `import { pino } from ${JSON.stringify(pinoUrl)};`,
      `import { startServer, installProcessGuards } from ${JSON.stringify(index)};`,
      `const logger = pino(pino.destination({ dest: 1, sync: true }));`,
      `const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'info' }, { logger });`,
      `installProcessGuards(server, logger, { intensity: 2, periodMs: 10_000 });`,
      `for (let i = 0; i < 2; i++) Promise.reject(new Error('stray ' + i));`,
      `setTimeout(() => { logger.info('still running'); Promise.reject(new Error('one too many')); }, 200);`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await within(new Promise<number | null>((r) => child.once('close', (c) => r(c))), 15_000, 'the embedding process exits');
  assert.equal(code, 70, out);
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
  const msgs = lines.map((l) => `${l.level} ${l.err?.message ?? l.msg}`);
  const at = (m: string) => msgs.indexOf(m);
  assert.ok(at('50 stray 0') >= 0 && at('50 stray 1') >= 0, msgs.join('\n'));
  assert.ok(at('30 still running') > at('50 stray 1'), msgs.join('\n'));
  assert.ok(at('60 one too many') > at('30 still running'), msgs.join('\n'));
  assert.ok(at('30 stopped') > at('60 one too many'), `drained before exiting:\n${msgs.join('\n')}`);
});
