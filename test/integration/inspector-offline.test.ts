/**
 * The inspector relay's built-in offline view (`/offline`), in headless
 * Chromium with every request off this machine refused: the supervisor tree,
 * the rooms with their members, the connections with their state and last
 * events, updated live as peers join and leave; a screenshot is saved
 * (TEST_ARTIFACTS_DIR, default <tmp>/webrtc-server-artifacts). Inspection
 * messages name actors by peer id and room name, never `x:0`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { TestClient } from '../helpers/client.js';
import { freePort } from '../helpers/fixtures.js';
import { testServer, USERS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { InspectorView, stateText, VIEW_MAX_ACTORS, VIEW_MAX_ENDED, VIEW_MAX_EVENTS } from '../../src/observability/inspector-view.js';

const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;
const ARTIFACTS = process.env.TEST_ARTIFACTS_DIR ?? join(tmpdir(), 'webrtc-server-artifacts');

test('inspection messages name actors by systemId: connection:<peer id>, room:<name>, supervisor:<name>; never x:0', async (t) => {
  const inspectPort = await freePort();
  const server = await testServer({ inspect: inspectPort });
  t.after(() => server.stop());
  const ids = new Set<string>();
  const relay = new WebSocket(`ws://127.0.0.1:${inspectPort}`);
  t.after(() => relay.terminate());
  relay.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { sessionId?: string; parentId?: string };
    for (const id of [m.sessionId, m.parentId]) if (typeof id === 'string') ids.add(id);
  });
  await new Promise((resolve) => relay.once('open', resolve));
  const alice = await TestClient.join(server.port, 'named room', 'alice', USERS.alice);
  t.after(() => alice.close());
  await waitFor(() => ids.has(`connection:${alice.peerId}`) && ids.has('room:named room'), 5000, `ids of alice's connection and her room in ${[...ids]}`);
  assert.ok(ids.has('supervisor:root_sup'));
  assert.deepEqual([...ids].filter((id) => /^x:\d+$/.test(id)), [], 'no bare session id');
  // Every id is a named root, or a child named under its root (`<root>::<id>`, should a machine invoke one).
  const named = /^(connection|room|supervisor):[^:]/;
  assert.deepEqual([...ids].filter((id) => !named.test(id.split('::')[0]!)), [], 'every actor id is named');
});

test('the offline view, in Chromium with no network: supervisor tree, rooms, connections, last events, live; screenshot', { skip, timeout: 120_000 }, async (t) => {
  const inspectPort = await freePort();
  const server = await testServer({ inspect: inspectPort });
  t.after(() => server.stop());
  const alice = await TestClient.join(server.port, 'inspected-room', 'alice', USERS.alice);
  const bob = await TestClient.join(server.port, 'inspected-room', 'bob', USERS.bob);
  t.after(() => {
    alice.close();
    bob.close();
  });

  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const offMachine: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (/^(http|ws)s?:\/\/127\.0\.0\.1[:/]/.test(url)) return route.continue();
    offMachine.push(url);
    return route.abort();
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${inspectPort}/offline`);

  const text = async (selector: string) => (await page.locator(selector).innerText()).replace(/\s+/g, ' ');
  const until = async (selector: string, ok: (s: string) => boolean, what: string) => {
    try {
      await waitFor(async () => ok(await text(selector)), 15_000, what, 100);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${selector}: ${await text(selector)}\nconnections: ${await text('#connections')}`);
    }
  };
  await until('#conn', (s) => s === 'live', 'the stream connected');
  await until('#rooms', (s) => /inspected-room open 2: alice .*, bob /.test(s), 'the room with both members');
  const rooms = await text('#rooms');
  assert.ok(rooms.includes(alice.peerId!) && rooms.includes(bob.peerId!), rooms);
  await until('#connections', (s) => s.includes(`${alice.peerId} alice inspected-room inRoom`) && s.includes(`${bob.peerId} bob inspected-room inRoom`), 'both connections in the room');
  const tree = await text('#tree');
  for (const name of ['root_sup', 'turn_sup', 'room_sup', 'signaling_sup', 'connection_sup']) assert.ok(tree.includes(name), `${name} in the tree: ${tree}`);
  assert.match(tree, /root_sup running/);
  await until('#events', (s) => /room:inspected-room room\.join/.test(s) && s.includes(`connection:${bob.peerId}`), 'the last events');

  // live: carol joins, bob leaves, without a reload
  const carol = await TestClient.join(server.port, 'inspected-room', 'carol', USERS.carol);
  t.after(() => carol.close());
  await until('#rooms', (s) => /inspected-room open 3: alice .*, bob .*, carol /.test(s), 'carol shown');
  bob.close();
  await until('#rooms', (s) => /inspected-room open 2: alice .*, carol /.test(s) && !s.includes('bob'), 'bob gone');
  await until('#connections', (s) => !s.includes(bob.peerId!), 'bob\'s connection gone');

  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, 'inspector-offline.png');
  await page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
  assert.deepEqual(offMachine, [], 'the page asked for nothing off this machine');
  assert.deepEqual(errors, []);

  // The hosted inspector's page links to the offline view.
  const bridge = await browser.newPage();
  t.after(() => bridge.close());
  await bridge.route('**/*', (route) => (/^https?:\/\/127\.0\.0\.1[:/]/.test(route.request().url()) ? route.continue() : route.abort()));
  await bridge.goto(`http://127.0.0.1:${inspectPort}/`);
  assert.equal(await bridge.locator('#offline a').getAttribute('href'), '/offline');
});

test('InspectorView is bounded: live actors, ended actors, events, context size', () => {
  let now = 0;
  const view = new InspectorView(() => ++now);
  const actor = (id: string, snapshot: unknown) => JSON.stringify({ type: '@xstate.actor', sessionId: id, name: 'connection', snapshot });
  for (let i = 0; i < VIEW_MAX_ACTORS + 10; i++) view.apply(actor(`connection:${i}`, { status: 'active', value: 'unauthenticated', context: { n: i } }));
  let s = view.snapshot();
  assert.equal(s.actors.length, VIEW_MAX_ACTORS);
  assert.equal(s.untracked, 10);
  for (let i = 0; i < VIEW_MAX_ENDED + 5; i++) view.apply(JSON.stringify({ type: '@xstate.snapshot', sessionId: `connection:${i}`, snapshot: { status: 'done', value: 'closed' } }));
  s = view.snapshot();
  assert.equal(s.actors.length, VIEW_MAX_ACTORS - VIEW_MAX_ENDED - 5);
  assert.equal(s.ended.length, VIEW_MAX_ENDED);
  assert.equal(s.ended.at(-1)!.id, `connection:${VIEW_MAX_ENDED + 4}`);
  for (let i = 0; i < VIEW_MAX_EVENTS + 7; i++) view.apply(JSON.stringify({ type: '@xstate.event', sessionId: 'connection:999', event: { type: `e${i}` } }));
  s = view.snapshot();
  assert.equal(s.events.length, VIEW_MAX_EVENTS);
  assert.equal(s.events[0]!.type, 'e7');
  assert.deepEqual(s.actors.find((a) => a.id === 'connection:999')!.events, ['e102', 'e103', 'e104', 'e105', 'e106']);
  view.apply(actor('room:big', { status: 'active', value: { a: { b: 'c' } }, context: { pad: 'x'.repeat(5000) } }));
  const big = view.snapshot().actors.find((a) => a.id === 'room:big')!;
  assert.match(String(big.context), /too large/);
  assert.equal(big.state, 'a.b.c');
  assert.equal(stateText({ a: 'b', c: {} }), 'a.b, c');
  // a peer id may contain '/': still a connection; a child ('::') is not
  view.apply(actor('connection:ab/cd+ef/gh==', { status: 'active', value: 'unauthenticated' }));
  view.apply(JSON.stringify({ type: '@xstate.actor', sessionId: 'connection:ab/cd+ef/gh==::check', parentId: 'connection:ab/cd+ef/gh==', name: 'check', snapshot: { status: 'active' } }));
  const kinds = Object.fromEntries(view.snapshot().actors.filter((a) => a.id.startsWith('connection:ab/')).map((a) => [a.id, a.kind]));
  assert.deepEqual(kinds, { 'connection:ab/cd+ef/gh==': 'connection', 'connection:ab/cd+ef/gh==::check': 'other' });
  view.apply('not json');
  view.apply('{"type":"@xstate.actor"}');
});
