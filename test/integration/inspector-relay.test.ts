/**
 * The inspector relay (`inspect`) is for the operator's own page and local
 * processes only, and everything it holds is bounded: foreign Origins get
 * 403, clients are capped, the replay is bounded in messages and bytes, an
 * oversized message closes its sender with 1009, and a client that stops
 * reading is dropped. Real `ws` clients on 127.0.0.1, port 0.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  INSPECTOR_MAX_CLIENTS, INSPECTOR_MAX_PAYLOAD, INSPECTOR_REPLAY, INSPECTOR_REPLAY_BYTES, INSPECTOR_SLOW_CLIENT_BYTES, INSPECTOR_STALL_MS,
  InspectorRelay,
} from '../../src/observability/inspector.js';
import { TestClient } from '../helpers/client.js';
import { within } from '../helpers/protocol.js';
import { freePort } from '../helpers/fixtures.js';
import { memoryLogger, sleep, testServer, USERS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

async function startRelay(t: TestContext): Promise<{ relay: InspectorRelay; port: number; lines: () => any[] }> {
  const { logger, lines } = memoryLogger();
  const relay = await InspectorRelay.start(0, logger);
  t.after(() => relay.stop());
  return { relay, port: relay.address().port, lines };
}

/** A relay client that records every text message. */
class RelayClient {
  readonly ws: WebSocket;
  readonly messages: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number }>;
  /** The HTTP status of a refused upgrade. */
  readonly refused: Promise<number>;

  constructor(port: number, origin?: string) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}`, origin === undefined ? {} : { origin });
    this.ws.on('message', (data) => this.messages.push(data.toString()));
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.refused = new Promise((resolve) => this.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve({ code })));
  }

  static async open(t: TestContext, port: number, origin?: string): Promise<RelayClient> {
    const c = new RelayClient(port, origin);
    t.after(() => c.ws.terminate());
    await within(c.opened, 5000, `relay client open (origin ${origin})`);
    return c;
  }
}

/** A text message of exactly `bytes` bytes, carrying `i`. */
const sized = (i: number, bytes: number) => {
  const head = JSON.stringify({ i, pad: '' });
  return JSON.stringify({ i, pad: 'x'.repeat(bytes - head.length) });
};

/**
 * Sends `texts` four at a time, each batch once `watcher` has the previous
 * one: the relay and the watcher share this event loop, so one burst of many
 * MiB would find the watcher behind.
 */
async function pushInBatches(pusher: RelayClient, watcher: RelayClient, texts: string[]): Promise<void> {
  const start = watcher.messages.length;
  for (let sent = 0; sent < texts.length; ) {
    for (const text of texts.slice(sent, sent + 4)) pusher.ws.send(text);
    sent = Math.min(sent + 4, texts.length);
    await waitFor(() => watcher.messages.length === start + sent, 30_000, `${sent} of ${texts.length} messages relayed`);
  }
}

test('a WebSocket upgrade from a foreign Origin gets 403; the relay page\'s own origin and no Origin are accepted', async (t) => {
  const { relay, port, lines } = await startRelay(t);
  for (const origin of ['https://evil.example', `http://127.0.0.1:${await freePort()}`, 'null', `http://127.0.0.1.evil.example:${port}`]) {
    const foreign = new RelayClient(port, origin);
    t.after(() => foreign.ws.terminate());
    assert.equal(await within(foreign.refused, 5000, `refusal of ${origin}`), 403, origin);
  }
  const refusals = lines().filter((l) => l.level === 40 && /foreign origin/.test(l.msg));
  assert.equal(refusals.length, 1, 'the first refusal is logged, the next ones only counted (at most one line per 10 s)');
  assert.equal(refusals[0].origin, 'https://evil.example');

  const page = await RelayClient.open(t, port, `http://127.0.0.1:${port}`);
  const localhost = await RelayClient.open(t, port, `http://localhost:${port}`);
  const local = await RelayClient.open(t, port); // a Node client (the server's own inspector) sends no Origin
  assert.equal(relay.stats().clients, 3);
  local.ws.send('{"from":"local"}');
  await waitFor(() => page.messages.length === 1 && localhost.messages.length === 1, 5000, 'the message relayed to both pages');
  assert.deepEqual(page.messages, ['{"from":"local"}']);
});

test('the replay keeps the last 200 messages and at most 4 MiB: after 20 × 1 MiB messages a new client is replayed the newest, under 4 MiB', async (t) => {
  const { relay, port } = await startRelay(t);
  const pusher = await RelayClient.open(t, port);
  const watcher = await RelayClient.open(t, port);

  for (let i = 0; i < 250; i++) pusher.ws.send(JSON.stringify({ i }));
  await waitFor(() => watcher.messages.length === 250, 5000, '250 small messages relayed');
  assert.equal(relay.stats().replayMessages, INSPECTOR_REPLAY);

  await pushInBatches(pusher, watcher, Array.from({ length: 20 }, (_, i) => sized(1000 + i, MiB)));
  const stats = relay.stats();
  assert.ok(stats.replayBytes <= INSPECTOR_REPLAY_BYTES, JSON.stringify(stats));
  assert.equal(stats.replayMessages, Math.floor(INSPECTOR_REPLAY_BYTES / MiB), JSON.stringify(stats));

  const late = await RelayClient.open(t, port);
  pusher.ws.send('"end"');
  await waitFor(() => late.messages.includes('"end"'), 30_000, 'the replay, then the marker');
  const replayed = late.messages.slice(0, late.messages.indexOf('"end"'));
  const bytes = replayed.reduce((n, m) => n + Buffer.byteLength(m), 0);
  assert.ok(bytes <= INSPECTOR_REPLAY_BYTES, `${bytes} bytes replayed`);
  assert.deepEqual(replayed.map((m) => (JSON.parse(m) as { i: number }).i), [1016, 1017, 1018, 1019], 'the newest ones, oldest first');
});

test('a message over 1 MiB closes its sender with 1009; one of exactly 1 MiB is relayed', async (t) => {
  const { relay, port } = await startRelay(t);
  const sender = await RelayClient.open(t, port);
  const watcher = await RelayClient.open(t, port);
  sender.ws.send(sized(1, INSPECTOR_MAX_PAYLOAD));
  await waitFor(() => watcher.messages.length === 1, 5000, 'the 1 MiB message relayed');
  sender.ws.send(sized(2, INSPECTOR_MAX_PAYLOAD + 1));
  assert.equal((await within(sender.closed, 5000, 'sender closed')).code, 1009);
  assert.equal(watcher.messages.length, 1, 'the oversized message went nowhere');
  assert.equal(relay.stats().replayMessages, 1);
});

test('at most 16 relay clients: the 17th upgrade gets 503; a slot frees when one leaves', async (t) => {
  const { relay, port } = await startRelay(t);
  const clients: RelayClient[] = [];
  for (let i = 0; i < INSPECTOR_MAX_CLIENTS; i++) clients.push(await RelayClient.open(t, port));
  const extra = new RelayClient(port);
  t.after(() => extra.ws.terminate());
  assert.equal(await within(extra.refused, 5000, 'the 17th refused'), 503);
  assert.equal(relay.stats().clients, INSPECTOR_MAX_CLIENTS);
  clients[0]!.ws.close();
  await waitFor(() => relay.stats().clients < INSPECTOR_MAX_CLIENTS, 5000, 'a slot freed');
  await RelayClient.open(t, port);
});

test('a client that stops reading is sent nothing more once 8 MiB wait for it, and dropped after 5 s of that; the others keep receiving', async (t) => {
  const { relay, port, lines } = await startRelay(t);
  const pusher = await RelayClient.open(t, port);
  const watcher = await RelayClient.open(t, port);
  const stalled = await RelayClient.open(t, port);
  stalled.ws.pause();
  const count = 24;
  await pushInBatches(pusher, watcher, Array.from({ length: count }, (_, i) => sized(i, MiB)));
  const { buffered, clients } = relay.stats();
  assert.ok(buffered <= INSPECTOR_SLOW_CLIENT_BYTES + MiB, `${buffered} bytes wait in the relay after ${count} MiB`);
  assert.equal(clients, 3, 'a client merely behind is not dropped at once');

  await sleep(INSPECTOR_STALL_MS + 100);
  pusher.ws.send('"tick"');
  await waitFor(() => watcher.messages.at(-1) === '"tick"', 10_000, 'the next message');
  assert.equal(relay.stats().clients, 2, 'still behind after 5 s: dropped');
  assert.ok(lines().some((l) => l.level === 40 && /stopped reading/.test(l.msg)), 'logged');
  stalled.ws.resume();
  await within(stalled.closed, 10_000, 'the stalled client sees its socket closed');
  assert.ok(stalled.messages.length < count, `${stalled.messages.length} of ${count} reached the stalled client`);
});

test('one inspection event too large for the relay is sent shortened, and the server\'s inspector stays connected', async (t) => {
  const inspectPort = await freePort();
  const server = await testServer({ inspect: inspectPort, maxMessageBytes: 2 * MiB });
  t.after(() => server.stop());
  const receiver = await RelayClient.open(t, inspectPort);
  const alice = await TestClient.join(server.port, 'big', 'alice', USERS.alice);
  const bob = await TestClient.join(server.port, 'big', 'bob', USERS.bob);
  t.after(() => {
    alice.close();
    bob.close();
  });
  await alice.next(); // joined
  const big = 'y'.repeat(1.5 * MiB);
  alice.sendJson({ event: 'big', data: big });
  assert.equal((await bob.next(5000)).json?.data, big, 'signaling itself carries the large message');
  alice.sendJson({ event: 'after' });
  assert.equal((await bob.next(5000)).json?.event, 'after');

  const events = () => receiver.messages.map((m) => JSON.parse(m) as { type: string; event?: { type?: string; payload?: { event?: string } }; truncated?: string });
  await waitFor(
    () => events().some((e) => e.type === '@xstate.event' && e.event?.type === 'frame.message' && e.event.payload?.event === 'after'),
    10_000,
    'the message after the large one, inspected: the server is still connected to the relay',
  );
  const shortened = events().filter((e) => e.truncated !== undefined);
  assert.ok(shortened.some((e) => e.type === '@xstate.event' && e.event?.type === 'frame.message'), JSON.stringify(shortened).slice(0, 2000));
  assert.ok(receiver.messages.every((m) => Buffer.byteLength(m) <= INSPECTOR_MAX_PAYLOAD), 'no message over the relay limit');
});
