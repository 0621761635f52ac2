/**
 * Driving the example client (`example/`) in headless Chromium for end-to-end
 * tests: its state through `window.webrtcExample.state()`, bounded waits on
 * it, the selected ICE candidate pairs, and a full-mesh check.
 */
import assert from 'node:assert/strict';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';

export const WAIT_MS = 30_000;

export interface RemotePeerState {
  peerId: string;
  username: string | null;
  connectionState: string;
  iceConnectionState: string;
  videoWidth: number;
  videoHeight: number;
  hasVideo: boolean;
}

export interface ExampleState {
  phase: string;
  status: string;
  statusKind: string;
  room: string | null;
  username: string | null;
  peerId: string | null;
  socketState: string | null;
  lastPongAt: number | null;
  lastClose: { code: number; reason: string; meaning: string } | null;
  relayOnly: boolean;
  turnTransport: string | null;
  iceServers: { urls: string | string[]; withCredential: boolean }[];
  hasLocalVideo: boolean;
  remotePeers: RemotePeerState[];
  log: { at: number; message: string }[];
}

export interface Member {
  username: string;
  page: Page;
  /** Uncaught exceptions in the page: there must be none. */
  errors: string[];
}

export async function state(page: Page): Promise<ExampleState> {
  return (await page.evaluate('window.webrtcExample.state()')) as ExampleState;
}

/** Waits (bounded) until `expression` over `s` (the hook's state) is true; on timeout, reports the state. */
export async function waitForState(member: Member, expression: string, what: string): Promise<ExampleState> {
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
export const fullMesh = (n: number) =>
  `s.phase === 'in-call' && s.remotePeers.length === ${n} && s.remotePeers.every((p) => p.connectionState === 'connected' && p.hasVideo)`;

export interface CandidateInfo {
  candidateType: string;
  protocol: string;
  /** A relayed candidate's transport to TURN (udp, tcp, tls), else null. */
  relayProtocol: string | null;
  address: string | null;
  port: number;
}

export interface SelectedPair {
  peerId: string;
  username: string | null;
  state: string | null;
  local: CandidateInfo | null;
  remote: CandidateInfo | null;
}

/** Polls (bounded) the page's selected candidate pairs until `ok` holds for them; on timeout, reports them. */
export async function waitForPairs(member: Member, ok: (pairs: SelectedPair[]) => boolean, what: string): Promise<SelectedPair[]> {
  const deadline = Date.now() + WAIT_MS;
  let pairs: SelectedPair[] = [];
  for (;;) {
    pairs = (await member.page.evaluate('window.webrtcExample.selectedCandidatePairs()')) as SelectedPair[];
    if (ok(pairs)) return pairs;
    if (Date.now() > deadline) throw new Error(`${member.username}: ${what} not reached within ${WAIT_MS} ms\npairs: ${JSON.stringify(pairs, null, 1)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


/** The value of one sample of the Prometheus text, or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}


export async function open(
  browser: Browser, port: number, room: string, username: string, extra: Record<string, string> = {}, scheme: 'http' | 'https' = 'http',
  contextOptions: BrowserContextOptions = {},
): Promise<Member> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 620 }, ...contextOptions });
  const page = await context.newPage();
  const member: Member = { username, page, errors: [] };
  page.on('pageerror', (err) => member.errors.push(err.message));
  const query = new URLSearchParams({ room, username, password: 'demo', autojoin: '1', ...extra });
  const response = await page.goto(`${scheme}://127.0.0.1:${port}/?${query}`);
  assert.equal(response?.status(), 200);
  return member;
}

/** Every member sees exactly the others (by peer_id and username), connected, with video. */
export async function assertFullMesh(members: Member[]): Promise<Map<Member, ExampleState>> {
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

