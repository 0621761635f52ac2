/**
 * Small shared pieces for integration tests: temp folders, a self-signed
 * certificate made with the `openssl` CLI, a free loopback port, bounded
 * waits, and protocol probes that work for ws:// and wss:// alike.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type WebSocket from 'ws';
import { TestClient } from './client.js';
import { within } from './protocol.js';

/** A fresh temp folder, removed after the test. */
export function tempDir(t: TestContext, prefix = 'webrtc-server-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for CN=localhost, valid one day, written into `dir`. */
export function makeCert(dir: string): { certfile: string; keyfile: string } {
  const certfile = join(dir, 'cert.pem');
  const keyfile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', keyfile, '-out', certfile],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { certfile, keyfile };
}

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Opens `url` (any scheme), authenticates, and waits for `authenticated`. */
export async function joinUrl(url: string, username: string, password: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
  const c = new TestClient(url, options);
  await within(c.opened, 5000, `open ${url}`);
  c.sendJson({ event: 'authenticate', data: { username, password } });
  const r = await c.next(5000);
  if (r.json?.event !== 'authenticated') throw new Error(`expected authenticated, got ${r.text}`);
  c.peerId = r.json.data.peer_id;
  return c;
}

/** Sends one `authenticate` and returns the answer's event name (or the raw text). */
export async function authenticateOnce(c: TestClient, username: string, password: string): Promise<string> {
  c.sendJson({ event: 'authenticate', data: { username, password } });
  const r = await c.next(5000);
  return r.json?.event ?? r.text;
}

/**
 * Sends wrong passwords one at a time (at most `limit`) until the server
 * closes the socket. Returns how many `unauthorized` answers came first and
 * the close code. Every answer before the close must be `unauthorized`.
 * Use it on a fresh, unauthenticated client (it reads frames off the socket
 * itself; the client's own queue is left alone).
 */
export async function failedAuthsUntilClose(c: TestClient, limit = 12): Promise<{ unauthorized: number; code: number }> {
  const frames: string[] = [];
  let closeCode: number | null = null;
  let wake: (() => void) | null = null;
  c.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    frames.push(data.toString());
    wake?.();
  });
  c.ws.once('close', (code) => {
    closeCode = code;
    wake?.();
  });
  const nextEvent = async (): Promise<string | null> => {
    const end = Date.now() + 5000;
    while (frames.length === 0 && closeCode === null) {
      const left = end - Date.now();
      if (left <= 0) throw new Error('no answer to authenticate within 5000 ms');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
    return frames.shift() ?? null;
  };
  let unauthorized = 0;
  for (let i = 0; i < limit; i++) {
    if (closeCode !== null) break;
    c.sendJson({ event: 'authenticate', data: { username: 'alice', password: `wrong-${i}` } });
    const text = await nextEvent();
    if (text === null) break;
    let event: unknown;
    try {
      event = (JSON.parse(text) as { event?: unknown }).event;
    } catch {
      event = undefined;
    }
    if (event !== 'unauthorized') throw new Error(`expected unauthorized, got ${text}`);
    unauthorized++;
  }
  const close = await within(c.closed, 5000, 'close after failed authentications');
  return { unauthorized, code: close.code };
}
