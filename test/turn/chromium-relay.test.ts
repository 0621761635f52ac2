/**
 * End to end through our TURN: two headless Chromium pages join one room on
 * our signaling server and call each other with `iceTransportPolicy: 'relay'`
 * (only relayed candidates, both sides: relay to relay through our TURN on
 * 127.0.0.1, so `allowLoopbackPeers`). The call carries a data-channel
 * stream both ways and a fake camera track, and must outlive several
 * allocation lifetimes (a short `turnLifetime`): only working Refreshes keep
 * it going. The page side is fixtures/relay-call.js, observed through
 * `window.relayCall.state()`.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { REGISTRY } from '../../src/di/tokens.js';
import { SIGNALING_LISTENER_NAME, TURN_LISTENER_NAME } from '../../src/names.js';
import type { SignalingListener } from '../../src/signaling/listener.js';
import type { TurnListener } from '../../src/turn/turn-listener.js';
import { buildContainer, tree } from '../../supervisors/composition.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';

const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;
/** Seconds: Chromium refreshes at about half of a short lifetime. */
const TURN_LIFETIME = 6;
const WAIT_MS = 30_000;
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };

interface CallState {
  peerId: string | null;
  connectionState: string;
  sent: number;
  received: number;
  framesDecoded: number;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  errors: string[];
}

interface CallArgs {
  wsUrl: string;
  username: string;
  password: string;
  iceServers: { urls: string; username?: string; credential?: string }[];
}

async function callState(page: Page): Promise<CallState> {
  return (await page.evaluate('window.relayCall.state()')) as CallState;
}

async function waitFor(page: Page, expression: string, what: string): Promise<CallState> {
  try {
    await page.waitForFunction(`(() => { const s = window.relayCall && window.relayCall.state(); return !!s && (${expression}); })()`, undefined, { timeout: WAIT_MS, polling: 200 });
  } catch (err) {
    throw new Error(`${what} not reached within ${WAIT_MS} ms: ${(err as Error).message}\n${JSON.stringify(await callState(page).catch(String))}`);
  }
  return callState(page);
}

test('two Chromium pages in one room call each other relay-only through our TURN, past several refreshes', { skip, timeout: 180_000 }, async (t) => {
  const c = await buildContainer({
    host: '127.0.0.1', port: 0, turnPort: 0, allowLoopbackPeers: true, turnLifetime: TURN_LIFETIME,
    logLevel: 'silent', auth: { users: USERS },
  });
  const root = await tree(c).root.start();
  t.after(() => root.stop());
  const registry = c.resolve(REGISTRY);
  const signaling = registry.whereis<SignalingListener>(SIGNALING_LISTENER_NAME)!.address()!;
  const turnListener = () => registry.whereis<TurnListener>(TURN_LISTENER_NAME)!;
  const turn = turnListener().address()!;

  // a secure-context page to run the call in (getUserMedia needs one)
  const pageServer = createServer((_req, res) => res.end('<!doctype html><title>relay call</title><body></body>'));
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => pageServer.close(() => resolve())));
  const pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;

  const browser = await launchChromium();
  t.after(() => browser.close());
  const pages: Page[] = [];
  for (const [username, password] of Object.entries(USERS)) {
    const page = await (await browser.newContext()).newPage();
    await page.goto(pageUrl);
    const args: CallArgs = {
      wsUrl: `ws://127.0.0.1:${signaling.port}/websocket/relay-room`,
      username,
      password,
      iceServers: [
        { urls: `stun:127.0.0.1:${turn.port}` },
        { urls: `turn:127.0.0.1:${turn.port}?transport=udp`, username, credential: password },
      ],
    };
    await page.addScriptTag({ path: fileURLToPath(new URL('./fixtures/relay-call.js', import.meta.url)) });
    await page.evaluate((a) => (globalThis as unknown as { startRelayCall(x: CallArgs): void }).startRelayCall(a), args);
    await waitFor(page, 's.peerId !== null', `${username} authenticated`);
    pages.push(page);
  }

  for (const page of pages) {
    const s = await waitFor(page, `s.connectionState === 'connected' && s.received > 0 && s.framesDecoded > 0 && s.localCandidateType`, 'call connected');
    assert.equal(s.localCandidateType, 'relay');
    assert.equal(s.remoteCandidateType, 'relay');
    assert.deepEqual(s.errors, []);
  }
  assert.ok(turnListener().stats().allocations >= 2, 'both pages hold an allocation on our TURN');

  // Several allocation lifetimes: without working Refreshes the relays would be gone.
  await new Promise((r) => setTimeout(r, 3 * TURN_LIFETIME * 1000));
  for (const page of pages) {
    const before = await callState(page);
    assert.equal(before.connectionState, 'connected');
    await waitFor(page, `s.received > ${before.received} && s.framesDecoded > ${before.framesDecoded}`, 'data and video still flowing');
  }
  assert.ok(turnListener().stats().allocations >= 2);
});
