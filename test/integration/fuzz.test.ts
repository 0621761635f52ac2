/**
 * Hostile and careless clients at once, for a bounded time: seeded random
 * frames (malformed JSON, odd `authenticate` data, huge and multi-byte
 * usernames, `to`/`from` of every type, escaped keys, truncated frames,
 * frames nested past the limit, binary frames, pings and pongs), slow and
 * throwing `auth`, sockets ended every way (close codes, terminate). The
 * server must raise no uncaught error or unhandled rejection, stay ready,
 * and hold nothing once every client is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Options } from '../../src/index.js';
import { testServer } from '../helpers/server.js';
import { poll } from '../helpers/wait.js';
import { processErrors, seededRandom } from '../helpers/chaos.js';

const RUN_MS = 8_000;
const CLIENTS = 8;

const STRINGS = ['', 'a', 'x'.repeat(600), '\u0000', '\ud800', 'é'.repeat(300), '"', '\\', '__proto__', 'constructor', 'slow1', 'throw1', 'u1'];

function frameFor(rnd: () => number, peers: readonly string[]): string | Buffer {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const value = (): unknown => pick<unknown>([null, true, 1, 1e308, 'str', [], {}, [1, [2, [3]]], { to: 'x' }, pick(STRINGS)]);
  const k = rnd();
  if (k < 0.05) return 'ping';
  if (k < 0.1) return Buffer.from([1, 2, 3]);
  if (k < 0.25) {
    const n = Math.floor(rnd() * 5);
    const data = pick<unknown>([{ username: pick(STRINGS), password: pick(STRINGS) }, { username: `u${n}`, password: `u${n}-pw` }, null, 'x', { username: value(), password: value() }]);
    return JSON.stringify({ event: 'authenticate', data });
  }
  if (k < 0.3) {
    const depth = pick([200, 300, 16_000]);
    return `{"event":"deep"${rnd() < 0.5 ? ',"from":"me"' : ''},"data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  }
  if (k < 0.4) return pick(['{', '}', '[]', 'null', '"x"', '{"a":', '{"to":1}', '{"to":null}', '{"from":1}', '{}', `{"to":"${pick([...peers, 'nope'])}"}`]);
  const o: Record<string, unknown> = { event: pick(['offer', 'candidate', 'authenticate', 'ping', pick(STRINGS)]), data: value() };
  if (rnd() < 0.3) o.to = pick([...peers, 'nope', '']);
  if (rnd() < 0.2) o.from = value();
  let text = JSON.stringify(o);
  if (rnd() < 0.1) text = text.replace('"event"', '"\\u0065vent"');
  if (rnd() < 0.05) text = text.slice(0, Math.floor(rnd() * text.length));
  return text;
}

test(`${CLIENTS} clients sending seeded random frames for ${RUN_MS / 1000} s: no uncaught error, nothing held after`, async (t) => {
  const errors = processErrors(t);
  const auth = (u: string): string | Promise<string> => {
    if (u.startsWith('slow')) return new Promise((resolve) => setTimeout(() => resolve(`${u}-pw`), 50));
    if (u.startsWith('throw')) throw new Error('auth backend fault');
    return `${u}-pw`;
  };
  const options: Options = { auth, maxConnectionsPerIp: 0, rateLimit: { perSecond: 100_000, burst: 100_000 } };
  const server = await testServer(options);
  t.after(() => server.stop());
  const peers: string[] = [];
  const deadline = performance.now() + RUN_MS;
  let connections = 0;
  let frames = 0;

  async function client(seed: number): Promise<void> {
    const rnd = seededRandom(seed);
    while (performance.now() < deadline) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/websocket/r${Math.floor(rnd() * 4)}`);
      connections++;
      ws.on('error', () => {});
      ws.on('message', (data) => {
        const text = String(data);
        if (!text.startsWith('{"event":"authenticated"')) return;
        peers.push((JSON.parse(text) as { data: { peer_id: string } }).data.peer_id);
        if (peers.length > 50) peers.shift();
      });
      await new Promise<void>((resolve) => {
        ws.once('open', () => resolve());
        ws.once('close', () => resolve());
      });
      const n = Math.floor(rnd() * 40);
      for (let i = 0; i < n && ws.readyState === WebSocket.OPEN; i++) {
        ws.send(frameFor(rnd, peers));
        frames++;
        if (rnd() < 0.05) ws.ping();
        if (rnd() < 0.1) await new Promise((r) => setTimeout(r, 5));
      }
      const end = rnd();
      const closed = new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));
      if (end < 0.3) ws.terminate();
      else ws.close(end < 0.6 ? 1000 : 4000);
      await closed;
    }
  }

  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(1000 + i)));
  assert.ok(connections > 100 && frames > 1_000, `${connections} connections, ${frames} frames`);
  assert.deepEqual(errors, []);
  assert.equal(server.health().ready, true);
  await poll(async () => (server.rooms().length === 0 ? true : undefined), 5_000, 50);
  assert.deepEqual(server.rooms(), [], 'every room empty once every client is gone');
});
