/**
 * Helpers for the wire-protocol tests (test/integration/protocol.test.ts and
 * original-suite.test.ts): raw upgrade requests, bounded waits, a recorder
 * for lifecycle callbacks, and a few protocol shortcuts over `TestClient`.
 */
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { TestClient } from './client.js';

/** Rejects if `promise` has not settled within `ms` (every wait in these tests is bounded). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sends a WebSocket upgrade request for the raw `path` (not re-encoded) and
 * resolves with the HTTP status: 101 when the server upgraded, else the
 * refusal's status.
 */
export function upgradeStatus(port: number, path: string): Promise<number> {
  return within(
    new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        path,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    }),
    2000,
    `upgrade ${path}`,
  );
}

/** Sends `ping` and asserts the next frame is the raw text `pong`. */
export async function assertPingPong(client: TestClient): Promise<void> {
  client.send('ping');
  const r = await client.next();
  assert.equal(r.text, 'pong');
  assert.equal(r.json, undefined, 'pong is raw text, not JSON');
}

/** The `authenticate` frame of docs/protocol.md. */
export function authFrame(username: string, password: string): { event: 'authenticate'; data: { username: string; password: string } } {
  return { event: 'authenticate', data: { username, password } };
}

/** The next JSON frame; fails on a non-JSON frame. */
export async function nextJson(client: TestClient, timeoutMs = 2000): Promise<any> {
  const r = await client.next(timeoutMs);
  assert.notEqual(r.json, undefined, `expected a JSON frame, got ${JSON.stringify(r.text)}`);
  return r.json;
}

export interface CallbackCall {
  kind: 'create' | 'join' | 'leave';
  room: string;
  username: string;
  others: string[];
}

/**
 * Records lifecycle callback calls in the order they start, so a test can
 * await the n-th call instead of sleeping.
 */
export class CallbackLog {
  readonly calls: CallbackCall[] = [];
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];

  record(kind: CallbackCall['kind'], room: string, username: string, others: string[]): void {
    // Copy: the server must not rely on us, nor we on it, keeping the array.
    this.calls.push({ kind, room, username, others: [...others] });
    const ready = this.waiters.filter((w) => w.ready());
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  /** Callbacks that only record (create, join, leave). */
  callbacks(): { create: (r: string, u: string, o: string[]) => void; join: (r: string, u: string, o: string[]) => void; leave: (r: string, u: string, o: string[]) => void } {
    return {
      create: (r, u, o) => this.record('create', r, u, o),
      join: (r, u, o) => this.record('join', r, u, o),
      leave: (r, u, o) => this.record('leave', r, u, o),
    };
  }

  /** Resolves once at least `n` calls were recorded (rejects after `ms`). */
  waitFor(n: number, ms = 2000): Promise<void> {
    return this.waitUntil(() => this.calls.length >= n, ms, `${n} callback calls`);
  }

  /** Resolves once `ready(calls)` holds, checked after each call (rejects after `ms`). */
  waitUntil(ready: (calls: readonly CallbackCall[]) => boolean, ms = 2000, what = 'callback calls'): Promise<void> {
    const check = () => ready(this.calls);
    if (check()) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.waiters.push({ ready: check, resolve })), ms, `${what} (got ${this.calls.length})`);
  }
}

/** A promise with its resolver, to hold an async callback until the test releases it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A test-unique name, like the original suite's `random_name/1`. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}
