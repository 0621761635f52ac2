/**
 * `webrtc-server/client` in headless Chromium: pages load the built browser
 * modules from the dev-mode server (`/client/index.js`, no bundler) and make
 * a full-mesh call with `MeshCall` (fake camera, host candidates over
 * 127.0.0.1). Then: a renegotiation started by both sides at once (glare,
 * settled by peer-id order), and a call that comes back after the
 * signaling socket of one page was cut (reconnection, new peer id, new
 * connections).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../src/index.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { ensureClientBuilt } from '../helpers/client-build.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const WAIT_MS = 30_000;
const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;

interface PageCall {
  peerId: string | null;
  state: string;
  errors: string[];
  collisions: string[];
  peers: { peerId: string; username: string | null; connectionState: string; videoWidth: number }[];
}

/**
 * The code each page runs: imports the client from the server, joins `room`
 * through `wsBase`, and keeps a summary in `window.call` for the test.
 */
const JOIN = `async ({ wsBase, username, room, media }) => {
  const { SignalingClient, MeshCall } = await import('/client/index.js');
  const stream = media ? await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false }) : null;
  const client = new SignalingClient({ url: wsBase, room, credentials: { username, password: 'demo' }, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
  const mesh = new MeshCall(client, { localStream: stream });
  const videos = new Map();
  const errors = [];
  const collisions = [];
  mesh.on('collision', ({ ignored }) => collisions.push(ignored ? 'ignored' : 'accepted'));
  mesh.on('track', ({ peer, stream }) => {
    let v = videos.get(peer.peerId);
    if (!v) { v = document.createElement('video'); v.muted = true; v.autoplay = true; document.body.append(v); videos.set(peer.peerId, v); }
    v.srcObject = stream; v.play().catch(() => {});
  });
  mesh.on('peerclosed', ({ peerId }) => { videos.get(peerId)?.remove(); videos.delete(peerId); });
  mesh.on('error', ({ error, during }) => errors.push(during + ': ' + (error && error.message)));
  client.on('error', ({ error, during }) => errors.push(during + ': ' + (error && error.message)));
  window.call = {
    client, mesh,
    summary: () => ({
      peerId: client.peerId, state: client.state, errors, collisions,
      peers: mesh.peers().map((p) => ({ peerId: p.peerId, username: p.username, connectionState: p.pc.connectionState, videoWidth: videos.get(p.peerId)?.videoWidth ?? 0 })),
    }),
    /** Gets the camera now, and starts sending it at \`at\` (Date.now() time), so that two pages can offer at once. */
    sendVideoAt: async (at) => {
      const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
      setTimeout(() => mesh.setLocalStream(camera).catch((e) => errors.push('setLocalStream: ' + e.message)), at - Date.now());
    },
  };
  await client.connect();
}`;

async function summary(page: Page): Promise<PageCall> {
  return (await page.evaluate('window.call.summary()')) as PageCall;
}

/** Waits until every page sees `n` peers connected with video (width > 0). */
async function waitForMesh(pages: Page[], n: number, what: string): Promise<PageCall[]> {
  const fn = `(() => { const s = window.call && window.call.summary(); return !!s && s.state === 'authenticated' && s.peers.length === ${n} && s.peers.every((p) => p.connectionState === 'connected' && p.videoWidth > 0); })()`;
  for (const page of pages) {
    try {
      await page.waitForFunction(fn, undefined, { timeout: WAIT_MS, polling: 100 });
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}\n${JSON.stringify(await summary(page).catch(String), null, 1)}`);
    }
  }
  return Promise.all(pages.map(summary));
}

async function setup(t: TestContext): Promise<{ port: number; browser: Browser }> {
  ensureClientBuilt();
  // Dev mode: demo users alice/bob/carol with password `demo`, the example and /client/ served.
  const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent' });
  t.after(() => server.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  return { port: server.signalingAddress()!.port, browser };
}

async function openPage(t: TestContext, browser: Browser, port: number): Promise<Page> {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/healthz`);
  return page;
}

test('three Chromium pages importing /client/index.js make a full-mesh video call with MeshCall', { skip, timeout: 120_000 }, async (t) => {
  const { port, browser } = await setup(t);
  const pages = await Promise.all(['alice', 'bob', 'carol'].map(() => openPage(t, browser, port)));
  const names = ['alice', 'bob', 'carol'];
  for (const [i, page] of pages.entries()) {
    await page.evaluate(`(${JOIN})(${JSON.stringify({ wsBase: `ws://127.0.0.1:${port}`, username: names[i], room: 'mesh', media: true })})`);
  }
  const calls = await waitForMesh(pages, 2, 'full mesh of three');
  const ids = calls.map((c) => c.peerId);
  for (const [i, call] of calls.entries()) {
    assert.deepEqual(call.peers.map((p) => p.peerId).sort(), ids.filter((_, j) => j !== i).sort());
    assert.deepEqual(call.peers.map((p) => p.username).sort(), names.filter((_, j) => j !== i).sort());
    assert.deepEqual(call.errors, []);
  }

  // carol leaves: the others close her connection
  await pages[2]!.evaluate('window.call.client.close()');
  const after = await waitForMesh(pages.slice(0, 2), 1, 'alice and bob after carol left');
  assert.deepEqual(after[0]!.peers.map((p) => p.username), ['bob']);
});

test('glare: both sides start sending video at the same moment; the renegotiation settles by peer-id order and both get video', { skip, timeout: 120_000 }, async (t) => {
  const { port, browser } = await setup(t);
  // 150 ms each way between the pages and the server: two offers made at once always cross.
  const slow = await TcpProxy.start(port, 150);
  t.after(() => slow.stop());
  const pages = await Promise.all([0, 1].map(() => openPage(t, browser, port)));
  for (const [i, page] of pages.entries()) {
    await page.evaluate(`(${JOIN})(${JSON.stringify({ wsBase: `ws://127.0.0.1:${slow.port}`, username: ['alice', 'bob'][i], room: 'glare', media: false })})`);
  }
  const fn = `(() => { const s = window.call.summary(); return s.peers.length === 1 && s.peers[0].connectionState === 'connected'; })()`;
  for (const page of pages) await page.waitForFunction(fn, undefined, { timeout: WAIT_MS, polling: 100 });
  // Both offer at the same instant: the offers cross, each finds its own pending.
  const at = Date.now() + 1000;
  await Promise.all(pages.map((page) => page.evaluate(`window.call.sendVideoAt(${at})`)));
  const calls = await waitForMesh(pages, 1, 'both receiving video after the simultaneous renegotiation');
  for (const call of calls) assert.deepEqual(call.errors, []);
  // The polite side (higher peer id) took the other's offer, the impolite one ignored it.
  const [low, high] = [...calls].sort((a, b) => (a.peerId! < b.peerId! ? -1 : 1));
  assert.deepEqual([low!.collisions, high!.collisions], [['ignored'], ['accepted']], 'both offers crossed: the lower peer id ignored, the higher accepted');
});

test('a page whose signaling socket is cut reconnects, rejoins with a new peer id, and the call is made again', { skip, timeout: 120_000 }, async (t) => {
  const { port, browser } = await setup(t);
  const proxy = await TcpProxy.start(port);
  t.after(() => proxy.stop());
  const [alice, bob] = await Promise.all([0, 1].map(() => openPage(t, browser, port)));
  await alice!.evaluate(`(${JOIN})(${JSON.stringify({ wsBase: `ws://127.0.0.1:${port}`, username: 'alice', room: 'again', media: true })})`);
  await bob!.evaluate(`(${JOIN})(${JSON.stringify({ wsBase: `ws://127.0.0.1:${proxy.port}`, username: 'bob', room: 'again', media: true })})`);
  const [, before] = await waitForMesh([alice!, bob!], 1, 'first call');
  proxy.drop();
  await bob!.waitForFunction(`window.call.summary().peerId !== null && window.call.summary().peerId !== ${JSON.stringify(before!.peerId)}`, undefined, { timeout: WAIT_MS, polling: 100 });
  const [aliceAfter, bobAfter] = await waitForMesh([alice!, bob!], 1, 'call made again after the reconnection');
  assert.notEqual(bobAfter!.peerId, before!.peerId);
  assert.equal(aliceAfter!.peers[0]!.peerId, bobAfter!.peerId, 'alice dropped the old connection and took the new one');
});
