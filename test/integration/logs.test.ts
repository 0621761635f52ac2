/**
 * Logs of the daemon (README "Logs"): `--log-format pretty|json` from a flag,
 * the environment or the config file, JSON by default when stdout is not a
 * terminal and pretty when it is; and the info lines for joins, leaves,
 * kicks and closes with their reasons. The built CLI is spawned.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestClient } from '../helpers/client.js';
import { CLI, ROOT, spawnDaemon, startDaemon } from '../helpers/daemon.js';
import type { Daemon, LogLine } from '../helpers/daemon.js';
import { tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const LOCAL = ['--port', '0', '--turn-port', 'false'];
const TOKEN = 'admin-token-0123456789';
const PINO_INFO = 30;
/** `2026-11-25T14:03:07.123Z INFO  signaling listening listener=signaling host=127.0.0.1 port=41234 url=…` */
const PRETTY_LISTENING = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}signaling listening listener=signaling host=127\.0\.0\.1 port=(\d+) url=ws:\/\/127\.0\.0\.1:\d+\/websocket\/:room$/;

/** Spawns the daemon expecting pretty lines; resolves with its signaling port. */
async function startPretty(t: TestContext, args: string[], env: Record<string, string> = {}): Promise<{ daemon: Daemon; port: number }> {
  const daemon = spawnDaemon(t, args, { env });
  const line = await daemon.waitForLine((l) => PRETTY_LISTENING.test(String(l.raw)), 15_000, 'a pretty "signaling listening" line');
  assert.equal(daemon.lines.filter((l) => l.raw === undefined).length, 0, `no JSON line at all\n${daemon.describe()}`);
  return { daemon, port: Number(PRETTY_LISTENING.exec(String(line.raw))![1]) };
}

test('JSON by default on a pipe; --log-format pretty, WEBRTC_SERVER_LOG_FORMAT and "logFormat" in a config file switch to pretty lines', async (t) => {
  const json = await startDaemon(t, LOCAL);
  assert.ok(json.daemon.lines.length > 0 && json.daemon.lines.every((l) => l.raw === undefined), `every line is JSON\n${json.daemon.describe()}`);

  const byFlag = await startPretty(t, [...LOCAL, '--log-format', 'pretty']);
  // A pretty line for a join: level, message, then the fields, client values quoted when needed.
  const alice = await TestClient.join(byFlag.port, 'a room', 'alice', 'demo');
  t.after(() => alice.close());
  const joined = await byFlag.daemon.waitForLine((l) => / INFO {2}joined /.test(String(l.raw)), 5000, 'a pretty joined line');
  assert.equal(String(joined.raw).replace(/^\S+ /, ''), `INFO  joined peer_id=${alice.peerId} room="a room" username=alice`);

  await startPretty(t, LOCAL, { WEBRTC_SERVER_LOG_FORMAT: 'pretty' });
  const dir = tempDir(t);
  const config = join(dir, 'pretty.json');
  writeFileSync(config, JSON.stringify({ port: 0, turnPort: false, logFormat: 'pretty' }));
  await startPretty(t, ['--config', config]);
  // The flag wins over the file, as for every option.
  const back = await startDaemon(t, ['--config', config, '--log-format', 'json']);
  assert.ok(back.daemon.lines.every((l) => l.raw === undefined), back.daemon.describe());
});

test('--log-format with another value exits 2 naming logFormat', async (t) => {
  const daemon = spawnDaemon(t, [...LOCAL, '--log-format', 'xml']);
  const exit = await daemon.waitForExit();
  assert.equal(exit.code, 2, daemon.describe());
  assert.match(daemon.stderr, /invalid option "logFormat"/);
});

test('pretty by default when stdout is a terminal (under script(1))', { skip: hasScript() ? false : 'script(1) from util-linux is not installed' }, async (t) => {
  // script gives the daemon a pseudo-terminal as stdout; its output is copied to ours.
  const child = spawn('script', ['-qfec', `${process.execPath} ${CLI} ${LOCAL.join(' ')}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...withoutServerVariables(), NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString()));
  await waitFor(() => /signaling listening/.test(out), 15_000, 'the listening line');
  const line = out.split(/\r?\n/).find((l) => l.includes('signaling listening'))!;
  assert.match(line, PRETTY_LISTENING, out);
  assert.doesNotMatch(out, /"level":/, 'no JSON line');
});

test('info lines for joins, leaves, kicks and closes, with their reasons', async (t) => {
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--admin-token', TOKEN, '--auth-timeout', '300']);
  const alice = await TestClient.join(port, 'logs', 'alice', 'demo');
  const bob = await TestClient.join(port, 'logs', 'bob', 'demo');
  const carol = await TestClient.join(port, 'logs', 'carol', 'demo');
  const idle = await TestClient.open(port, 'logs'); // never authenticates: closed after authTimeout
  t.after(() => [alice, bob, carol, idle].forEach((c) => c.close()));

  const kick = await fetch(`http://127.0.0.1:${port}/admin/peers/${encodeURIComponent(bob.peerId!)}/kick`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(kick.status, 200);
  await bob.closed;
  carol.ws.close(4000, 'going home');
  await carol.closed;
  await idle.closed;

  const info = (msg: string, peerId: string | undefined): LogLine =>
    daemon.lines.find((l) => l.level === PINO_INFO && l.msg === msg && (peerId === undefined || l.peer_id === peerId))!;
  await waitFor(() => info('left', carol.peerId!) !== undefined && info('closed', undefined) !== undefined, 5000, 'the close lines');

  for (const [client, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']] as const) {
    assert.deepEqual(pick(info('joined', client.peerId!), ['peer_id', 'room', 'username']), { peer_id: client.peerId, room: 'logs', username: name });
  }
  assert.deepEqual(pick(info('kicked by an administrator', bob.peerId!), ['room', 'username']), { room: 'logs', username: 'bob' });
  assert.deepEqual(pick(info('left', bob.peerId!), ['room', 'username', 'code', 'reason', 'by']), {
    room: 'logs', username: 'bob', code: 1008, reason: 'kicked by an administrator', by: 'server',
  });
  assert.deepEqual(pick(info('left', carol.peerId!), ['room', 'username', 'code', 'reason', 'by']), {
    room: 'logs', username: 'carol', code: 4000, reason: 'going home', by: 'client',
  });
  assert.deepEqual(pick(info('closed', undefined), ['room', 'code', 'reason', 'by']), { room: 'logs', code: 1000, reason: 'authentication timeout', by: 'server' });
  assert.equal(info('left', alice.peerId!), undefined, 'alice is still there');
});

function pick(line: LogLine | undefined, keys: string[]): Record<string, unknown> | undefined {
  return line && Object.fromEntries(keys.map((k) => [k, line[k]]));
}

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function withoutServerVariables(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEBRTC_SERVER_')));
}
