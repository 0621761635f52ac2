/**
 * The daemon's checks before anything starts (docs/configuration.md, "The
 * daemon"): `--version`, unknown `WEBRTC_SERVER_*` variables, unusable
 * certfile/keyfile, and ports already in use, each refused with exit 2 naming
 * the option, with nothing logged (nothing started). The built CLI is spawned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { COTURN_BIN, startCoturn } from '../../bench/lib/procs.js';
import { assertRefused, ROOT, runDaemonToExit, startDaemon } from '../helpers/daemon.js';
import { freePort, makeCert, tempDir } from '../helpers/fixtures.js';

const LOCAL = ['--port', '0', '--turn-port', 'false'];

/** Holds a TCP port on 127.0.0.1 until the test ends. */
async function holdTcpPort(t: TestContext): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** Refused naming `option` and `flag`, before anything was logged (nothing started). */
async function assertRefusedBeforeStart(t: TestContext, args: string[], option: string, flag: string, env: Record<string, string> = {}): Promise<string> {
  const daemon = await assertRefused(t, args, option, env);
  assert.ok(daemon.stderr.includes(flag), `names ${flag}\n${daemon.describe()}`);
  assert.equal(daemon.stdout, '', `nothing logged: nothing started\n${daemon.describe()}`);
  return daemon.stderr;
}

test('--version and -V print the package version and exit 0 without starting', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const { code, daemon } = await runDaemonToExit(t, [flag]);
    assert.equal(code, 0, daemon.describe());
    assert.equal(daemon.stdout.trim(), version, daemon.describe());
  }
});

test('an unknown WEBRTC_SERVER_* variable exits 2 naming it (with the nearest name when there is one)', async (t) => {
  const typo = await assertRefusedBeforeStart(t, LOCAL, 'WEBRTC_SERVER_PROT', 'WEBRTC_SERVER_PROT', { WEBRTC_SERVER_PROT: '8081' });
  assert.match(typo, /unknown environment variable \(did you mean WEBRTC_SERVER_PORT\?\)/);
  const other = await assertRefusedBeforeStart(t, LOCAL, 'WEBRTC_SERVER_COLOUR', 'WEBRTC_SERVER_COLOUR', { WEBRTC_SERVER_COLOUR: 'red' });
  assert.doesNotMatch(other, /did you mean/);
  // A known one next to it still works (the check is not "any variable").
  await startDaemon(t, ['--turn-port', 'false'], { env: { WEBRTC_SERVER_PORT: '0' } });
});

test('certfile/keyfile missing, unreadable, not PEM or not a pair: exit 2 naming the option', async (t) => {
  const dir = tempDir(t);
  const { certfile, keyfile } = makeCert(dir);
  const other = join(dir, 'other');
  mkdirSync(other);
  const second = makeCert(other);
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  const tls = (cert: string, key: string) => [...LOCAL, '--certfile', cert, '--keyfile', key];

  const missing = await assertRefusedBeforeStart(t, tls(join(dir, 'missing.pem'), keyfile), 'certfile', '--certfile');
  assert.match(missing, /missing\.pem/);
  assert.match(missing, /ENOENT/);
  const unreadable = await assertRefusedBeforeStart(t, tls(certfile, dir), 'keyfile', '--keyfile'); // a folder: EISDIR
  assert.match(unreadable, /EISDIR/);
  await assertRefusedBeforeStart(t, tls(notPem, keyfile), 'certfile', '--certfile');
  await assertRefusedBeforeStart(t, tls(certfile, notPem), 'keyfile', '--keyfile');
  const mismatch = await assertRefusedBeforeStart(t, tls(certfile, second.keyfile), 'keyfile', '--keyfile');
  assert.match(mismatch, /not the private key/);
  // The same check by environment names the option too.
  await assertRefusedBeforeStart(t, LOCAL, 'certfile', '--certfile', { WEBRTC_SERVER_CERTFILE: join(dir, 'gone.pem'), WEBRTC_SERVER_KEYFILE: keyfile });
});

test('the signaling port, metricsPort and the inspector port in use: exit 2 naming the option', async (t) => {
  const held = await holdTcpPort(t);
  const signaling = await assertRefusedBeforeStart(t, ['--port', String(held), '--turn-port', 'false'], 'port', '--port');
  assert.match(signaling, new RegExp(`tcp 127\\.0\\.0\\.1:${held} is already in use`));
  assert.match(signaling, /WEBRTC_SERVER_PORT/);
  await assertRefusedBeforeStart(t, [...LOCAL, '--metrics-port', String(held)], 'metricsPort', '--metrics-port');
  await assertRefusedBeforeStart(t, [...LOCAL, `--inspect=${held}`], 'inspect', '--inspect');
  // Free ports pass the same check and the daemon starts.
  const free = await freePort();
  await startDaemon(t, [...LOCAL, '--metrics-port', String(free)]);
});

test('the TURN port held by another UDP socket: exit 2 naming --turn-port', async (t) => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  t.after(() => socket.close());
  const { port } = socket.address();
  const stderr = await assertRefusedBeforeStart(t, ['--port', '0', '--turn-port', String(port)], 'turnPort', '--turn-port');
  assert.match(stderr, new RegExp(`udp 127\\.0\\.0\\.1:${port} is already in use`));
  assert.match(stderr, /false disables TURN/);
});

test('the TURN port held by a running coturn: exit 2 naming --turn-port', { skip: COTURN_BIN ? false : 'coturn (turnserver) is not installed' }, async (t) => {
  const coturn = await startCoturn({ user: 'u', password: 'p', realm: 'test', relayPorts: [50000, 50100] });
  t.after(() => coturn.stop());
  await assertRefusedBeforeStart(t, ['--port', '0', '--turn-port', String(coturn.port)], 'turnPort', '--turn-port');
});
