/**
 * SIGHUP reloads the TLS certificate and key, as coturn and nginx do: new
 * handshakes get the new certificate, open connections are kept, and a file
 * that cannot be used leaves the current certificate in place. The real
 * daemon, real `wss://` clients on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { startDaemon } from '../helpers/daemon.js';
import { joinUrl, makeCert, tempDir } from '../helpers/fixtures.js';
import { TestClient } from '../helpers/client.js';

const LOCAL = ['--port', '0', '--turn-port', 'false'];
const TLS_CLIENT = { rejectUnauthorized: false };

/** The SHA-256 fingerprint of the certificate a client was shown. */
function fingerprintOf(client: TestClient): string {
  return ((client.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().fingerprint256);
}

async function connect(port: number): Promise<TestClient> {
  const c = new TestClient(`wss://127.0.0.1:${port}/websocket/hup`, TLS_CLIENT);
  await c.opened;
  return c;
}

test('SIGHUP: new handshakes get the new certificate, open connections stay, an unusable file keeps the old one', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const first = makeCert(mkdir(join(dir, 'a')));
  const second = makeCert(mkdir(join(dir, 'b')));
  const certfile = join(dir, 'cert.pem');
  const keyfile = join(dir, 'key.pem');
  copyFileSync(first.certfile, certfile);
  copyFileSync(first.keyfile, keyfile);
  const { daemon, port } = await startDaemon(t, [...LOCAL, '--certfile', certfile, '--keyfile', keyfile]);

  const member = await joinUrl(`wss://127.0.0.1:${port}/websocket/hup`, 'alice', 'demo', TLS_CLIENT);
  t.after(() => member.close());
  const before = fingerprintOf(member);

  copyFileSync(second.certfile, certfile);
  copyFileSync(second.keyfile, keyfile);
  daemon.proc.kill('SIGHUP');
  const reloaded = await daemon.waitForLine((l) => l.msg === 'TLS certificate reloaded', 10_000, 'reload line');
  assert.equal(reloaded.certfile, certfile);
  const fresh = await connect(port);
  const after = fingerprintOf(fresh);
  assert.notEqual(after, before, 'a new connection sees the new certificate');
  assert.equal(reloaded.fingerprint256, after);
  member.send('ping');
  assert.equal((await member.next(5000)).text, 'pong', 'the open connection was kept');
  fresh.close();

  writeFileSync(keyfile, 'not a key');
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLine((l) => l.msg === 'TLS certificate not reloaded: keeping the current one', 10_000, 'error line');
  const still = await connect(port);
  assert.equal(fingerprintOf(still), after, 'the certificate in use is kept');
  still.close();
  assert.equal(daemon.exit, null, 'the daemon still runs');
  assert.equal(member.ws.readyState, WebSocket.OPEN);
});

test('SIGHUP without TLS: a log line says there is nothing to reload; the daemon goes on', { timeout: 30_000 }, async (t) => {
  const { daemon, port } = await startDaemon(t, LOCAL);
  daemon.proc.kill('SIGHUP');
  const line = await daemon.waitForLine((l) => l.msg === 'SIGHUP: TLS certificate not reloaded', 10_000, 'SIGHUP line');
  assert.equal(line.reason, 'no certfile/keyfile configured');
  const c = await TestClient.open(port, 'room');
  c.send('ping');
  assert.equal((await c.next(5000)).text, 'pong');
  c.close();
  assert.equal(daemon.exit, null);
});

function mkdir(path: string): string {
  mkdirSync(path);
  return path;
}
