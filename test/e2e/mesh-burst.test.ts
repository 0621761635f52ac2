/**
 * The default rate limit never ends a real call. What a newcomer sends in a
 * full mesh is measured live: a Chromium page of the example client joins a
 * peer, and every frame it sends that peer (its offer and every trickled
 * candidate) is recorded. That per-peer pattern is then sent at once to 15
 * members, as the newcomer of a 16-peer mesh would, and every frame must be
 * delivered, in order, with the newcomer still connected.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startServer } from '../../src/index.js';
import { TestClient } from '../helpers/client.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { sleep } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const skip = chromiumAvailable() ? false : `Chromium not installed at ${CHROMIUM_PATH} (Debian package chromium)`;
const DEMO_USERS = ['alice', 'bob', 'carol', 'dave'] as const;
const PEERS = 15;

interface Sent {
  text: string;
}

/** Runs in the page before its scripts: keeps every text frame its WebSockets send. */
const RECORD_SENT = `
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === 'string') window.__sent.push({ text: data });
    return send.call(this, data);
  };
`;

/** Every frame the newcomer's page sends to its one peer, once its candidates stop coming (bounded). */
async function recordNewcomer(t: TestContext, port: number, inRoom: () => number): Promise<Record<string, unknown>[]> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const pages = [];
  for (const username of ['alice', 'bob']) {
    const page = await (await browser.newContext()).newPage();
    await page.addInitScript(RECORD_SENT);
    await page.goto(`http://127.0.0.1:${port}/?room=measure&username=${username}&password=demo&autojoin=1`);
    pages.push(page);
    // The newcomer is the one that joins second: wait until this page is in the room.
    await waitFor(() => inRoom() === pages.length, 30_000, `${username} in the room`);
  }
  const newcomer = pages[1]!;
  let frames: Record<string, unknown>[] = [];
  for (let stable = 0, i = 0; i < 60 && stable < 6; i++) {
    await sleep(500);
    const sent = (await newcomer.evaluate('window.__sent')) as Sent[];
    const next = sent.filter((s) => s.text.startsWith('{')).map((s) => JSON.parse(s.text) as Record<string, unknown>).filter((m) => typeof m.to === 'string');
    stable = next.length === frames.length && next.some((m) => m.event === 'offer') ? stable + 1 : 0;
    frames = next;
  }
  return frames;
}

test('a 16-peer newcomer sends what Chromium sends per peer to 15 members at once: every frame delivered in order, never closed', { skip, timeout: 120_000 }, async (t) => {
  const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: 0, allowLoopbackPeers: true, logLevel: 'silent' });
  t.after(() => server.stop());
  const port = server.signalingAddress()!.port;

  const perPeer = await recordNewcomer(t, port, () => server.peers('measure').length);
  const offers = perPeer.filter((m) => m.event === 'offer').length;
  const candidates = perPeer.filter((m) => m.event === 'candidate').length;
  t.diagnostic(`Chromium's newcomer sent its peer ${perPeer.length} frames: ${offers} offer, ${candidates} candidates, ${JSON.stringify(perPeer).length} bytes`);
  assert.equal(offers, 1, 'the newcomer makes the offer');
  assert.ok(candidates >= 1, 'and trickles candidates');

  const members: TestClient[] = [];
  for (let i = 0; i < PEERS; i++) members.push(await TestClient.join(port, 'mesh', DEMO_USERS[i % 4]!, 'demo'));
  const newcomer = await TestClient.join(port, 'mesh', 'dave', 'demo');
  for (const m of members) {
    // `joined` of each later member, the newcomer's last
    for (let i = 0; i <= PEERS; i++) if ((await m.next(5000)).json?.data?.peer_id === newcomer.peerId) break;
  }

  const expected = new Map<TestClient, string[]>();
  for (const m of members) {
    const frames = perPeer.map((frame) => JSON.stringify({ ...frame, to: m.peerId }));
    expected.set(m, frames);
    for (const frame of frames) newcomer.send(frame);
  }
  for (const m of members) {
    const want = expected.get(m)!;
    for (let i = 0; i < want.length; i++) {
      const got = await m.next(10_000);
      assert.deepEqual(got.json, { ...JSON.parse(want[i]!), from: newcomer.peerId }, `member ${members.indexOf(m)}, frame ${i}`);
    }
  }
  assert.equal(newcomer.ws.readyState, WebSocket.OPEN, 'the newcomer is still connected');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^webrtc_rate_limited_total\{action="closed"\} 0$/m);
  const throttled = /^webrtc_rate_limited_total\{action="throttled"\} (\d+)$/m.exec(metrics)?.[1];
  t.diagnostic(`${PEERS * perPeer.length} frames sent at once; reading paused ${throttled} time(s)`);
  for (const m of [...members, newcomer]) m.close();
});
