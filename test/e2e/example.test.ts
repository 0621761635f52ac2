/**
 * End to end: the example client (`example/`, served by the dev-mode server at `/`)
 * in headless Chromium. Three pages join one room and make a full-mesh video call
 * over 127.0.0.1 (host candidates only, no STUN/TURN); then one hangs up.
 *
 * Everything is observed through the client's `window.webrtcExample.state()` hook.
 * Set EXAMPLE_SCREENSHOT_DIR to save screenshots of the connected pages.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../src/index.js';
import type { ServerHandle } from '../../src/index.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';

const WAIT_MS = 30_000;
const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;

interface RemotePeerState {
  peerId: string;
  username: string | null;
  connectionState: string;
  iceConnectionState: string;
  videoWidth: number;
  videoHeight: number;
  hasVideo: boolean;
}

interface ExampleState {
  phase: string;
  status: string;
  statusKind: string;
  room: string | null;
  username: string | null;
  peerId: string | null;
  socketState: string | null;
  lastPongAt: number | null;
  lastClose: { code: number; reason: string; meaning: string } | null;
  hasLocalVideo: boolean;
  remotePeers: RemotePeerState[];
  log: { at: number; message: string }[];
}

interface Member {
  username: string;
  page: Page;
  /** Uncaught exceptions in the page: there must be none. */
  errors: string[];
}

async function state(page: Page): Promise<ExampleState> {
  return (await page.evaluate('window.webrtcExample.state()')) as ExampleState;
}

/** Waits (bounded) until `expression` over `s` (the hook's state) is true; on timeout, reports the state. */
async function waitForState(member: Member, expression: string, what: string): Promise<ExampleState> {
  const fn = `(() => { const h = window.webrtcExample; if (!h) return false; const s = h.state(); return !!(${expression}); })()`;
  try {
    await member.page.waitForFunction(fn, undefined, { timeout: WAIT_MS, polling: 100 });
  } catch (err) {
    const s = await state(member.page).catch((e: unknown) => String(e));
    throw new Error(`${member.username}: ${what} not reached within ${WAIT_MS} ms: ${(err as Error).message}\nstate: ${JSON.stringify(s, null, 1)}`);
  }
  return state(member.page);
}

/** All `n` remote peers connected and showing live video. */
const fullMesh = (n: number) =>
  `s.phase === 'in-call' && s.remotePeers.length === ${n} && s.remotePeers.every((p) => p.connectionState === 'connected' && p.hasVideo)`;

async function setup(t: TestContext): Promise<{ server: ServerHandle; port: number; browser: Browser }> {
  // Dev mode (no `auth`): the demo users alice/bob/carol/dave with password `demo`, and the example at `/`.
  const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent' });
  t.after(() => server.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  return { server, port: server.signalingAddress()!.port, browser };
}

async function open(browser: Browser, port: number, room: string, username: string): Promise<Member> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 620 } });
  const page = await context.newPage();
  const member: Member = { username, page, errors: [] };
  page.on('pageerror', (err) => member.errors.push(err.message));
  const query = new URLSearchParams({ room, username, password: 'demo', autojoin: '1' });
  const response = await page.goto(`http://127.0.0.1:${port}/?${query}`);
  assert.equal(response?.status(), 200);
  return member;
}

/** Every member sees exactly the others (by peer_id and username), connected, with video. */
async function assertFullMesh(members: Member[]): Promise<Map<Member, ExampleState>> {
  const states = new Map<Member, ExampleState>();
  for (const m of members) states.set(m, await waitForState(m, fullMesh(members.length - 1), `full mesh of ${members.length}`));
  for (const m of members) {
    const s = states.get(m)!;
    assert.ok(s.hasLocalVideo, `${m.username} has its camera`);
    const expected = members
      .filter((o) => o !== m)
      .map((o) => ({ peerId: states.get(o)!.peerId, username: o.username }))
      .sort((a, b) => a.username.localeCompare(b.username));
    const seen = s.remotePeers.map((p) => ({ peerId: p.peerId, username: p.username })).sort((a, b) => a.username!.localeCompare(b.username!));
    assert.deepEqual(seen, expected, `${m.username}'s remote peers`);
    for (const p of s.remotePeers) assert.ok(p.videoWidth > 0 && p.videoHeight > 0, `${m.username} decodes ${p.username}'s video`);
    // Each remote tile is labelled with the username.
    const labels = await m.page.locator('figure.remote figcaption .name').allTextContents();
    assert.deepEqual(labels.sort(), expected.map((e) => e.username));
  }
  return states;
}

test('three browsers make a full-mesh video call through the example client; a hang-up is seen by the others', { skip, timeout: 120_000 }, async (t) => {
  const { server, port, browser } = await setup(t);
  const room = 'e2e-mesh';
  const members: Member[] = [];

  // One after the other, so that each newcomer offers to the members it finds in `peers`
  // and the earlier members answer after `joined`.
  for (const username of ['alice', 'bob', 'carol']) {
    const m = await open(browser, port, room, username);
    members.push(m);
    await waitForState(m, `s.phase === 'in-call' && s.peerId`, 'authenticated');
  }
  const [alice, bob, carol] = members as [Member, Member, Member];

  const states = await assertFullMesh(members);
  assert.deepEqual(
    server.peers(room),
    members.map((m) => ({ peerId: states.get(m)!.peerId, username: m.username })),
    'the server sees the three members in join order',
  );

  // `ping` gets the raw text `pong` (not JSON) without disturbing the call.
  assert.equal(await alice.page.evaluate('window.webrtcExample.ping()'), true);
  await waitForState(alice, 's.lastPongAt !== null', 'pong');

  const dir = process.env.EXAMPLE_SCREENSHOT_DIR;
  if (dir) {
    await alice.page.screenshot({ path: join(dir, 'example-alice.png') });
    await bob.page.screenshot({ path: join(dir, 'example-bob.png') });
  }

  // Carol hangs up with the button: alice and bob get `left` and drop her tile.
  const carolId = states.get(carol)!.peerId!;
  await carol.page.click('#hangup');
  for (const m of [alice, bob]) {
    const s = await waitForState(m, `s.remotePeers.length === 1 && s.remotePeers.every((p) => p.peerId !== ${JSON.stringify(carolId)})`, 'carol removed');
    assert.equal(s.remotePeers[0]!.connectionState, 'connected', `${m.username} is still connected to the other`);
    assert.equal(await m.page.locator(`[data-peer-id="${carolId}"]`).count(), 0, `${m.username} removed carol's tile`);
    assert.equal(await m.page.locator('figure.remote').count(), 1);
  }
  const carolState = await state(carol.page);
  assert.equal(carolState.phase, 'closed');
  assert.deepEqual(carolState.remotePeers, []);
  assert.equal(carolState.hasLocalVideo, false, 'hang-up releases the camera');
  assert.equal(server.peers(room).length, 2);

  for (const m of members) assert.deepEqual(m.errors, [], `no uncaught errors in ${m.username}'s page`);
});

test('three browsers joining at the same moment still connect (no glare)', { skip, timeout: 120_000 }, async (t) => {
  const { port, browser } = await setup(t);
  const members = await Promise.all(['alice', 'bob', 'carol'].map((u) => open(browser, port, 'e2e-rush', u)));
  await assertFullMesh(members);
  for (const m of members) assert.deepEqual(m.errors, [], `no uncaught errors in ${m.username}'s page`);
});

test('a wrong password shows `unauthorized` and lets the user retry; a server shutdown shows close code 1001', { skip, timeout: 60_000 }, async (t) => {
  const { server, browser, port } = await setup(t);
  const context = await browser.newContext();
  const page = await context.newPage();
  const member: Member = { username: 'dave', page, errors: [] };
  page.on('pageerror', (err) => member.errors.push(err.message));
  await page.goto(`http://127.0.0.1:${port}/?room=e2e-auth&username=dave&password=wrong&autojoin=1`);
  const refused = await waitForState(member, `s.phase === 'error'`, 'unauthorized');
  assert.match(refused.status, /unauthorized/i);
  assert.equal(await page.isEnabled('#join'), true, 'the form is usable again');

  await page.fill('#password', 'demo');
  await page.click('#join');
  const joined = await waitForState(member, `s.phase === 'in-call' && s.peerId`, 'authenticated after retry');
  assert.match(joined.peerId!, /^[A-Za-z0-9+/]{14}==$/);

  await server.stop();
  const closed = await waitForState(member, `s.phase === 'error' && s.lastClose`, 'close shown');
  assert.equal(closed.lastClose!.code, 1001);
  assert.match(closed.status, /1001.*shutting down/);
  assert.deepEqual(member.errors, []);
});
