/**
 * The example client's usability fixes (issue 12), in headless Chromium:
 * a second tab defaults to another demo user; the status line follows
 * connect, join, leave and failure; a failing `?relay=1` call in dev mode
 * explains `--allow-loopback-peers` on the page; a favicon; and the
 * `example` option serving the example (with the client library) outside
 * dev mode, from the embedding API, the CLI flag and the environment.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { parseOptions } from '../../src/options.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { ensureClientBuilt } from '../helpers/client-build.js';
import { startDaemon } from '../helpers/daemon.js';

const WAIT_MS = 30_000;
const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;

interface PageState {
  phase: string;
  status: string;
  hint: string;
  formUsername: string;
  peerId: string | null;
  remotePeers: { username: string | null; connectionState: string }[];
  log: { message: string }[];
}

async function state(page: Page): Promise<PageState> {
  return (await page.evaluate('window.webrtcExample.state()')) as PageState;
}

async function waitForState(page: Page, expression: string, what: string, timeout = WAIT_MS): Promise<PageState> {
  const fn = `(() => { const h = window.webrtcExample; if (!h) return false; const s = h.state(); return !!(${expression}); })()`;
  try {
    await page.waitForFunction(fn, undefined, { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`${what} not reached: ${(err as Error).message}\nstate: ${JSON.stringify(await state(page).catch(String), null, 1)}`);
  }
  return state(page);
}

const statuses = (s: PageState) => s.log.map((l) => l.message).filter((m) => m.startsWith('status: ')).map((m) => m.slice(8));

async function setup(t: TestContext, options: Options): Promise<{ port: number; browser: Browser }> {
  ensureClientBuilt();
  const server = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...options });
  t.after(() => server.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  return { port: server.signalingAddress()!.port, browser };
}

test('two tabs of one browser default to two demo users and call each other; statuses follow connect, join, leave', { skip, timeout: 120_000 }, async (t) => {
  const { port, browser } = await setup(t, { turnPort: false });
  const context = await browser.newContext(); // one browser profile: the tabs share localStorage
  t.after(() => context.close());
  const first = await context.newPage();
  const errors: string[] = [];
  first.on('pageerror', (e) => errors.push(e.message));
  await first.goto(`http://127.0.0.1:${port}/`);
  assert.equal((await state(first)).formUsername, 'alice');
  const second = await context.newPage();
  second.on('pageerror', (e) => errors.push(e.message));
  await second.goto(`http://127.0.0.1:${port}/`);
  assert.equal((await state(second)).formUsername, 'bob', 'the second tab takes the next demo user');
  await first.reload();
  assert.equal((await state(first)).formUsername, 'alice', 'a reloaded tab keeps its user');

  await first.click('#join');
  const alone = await waitForState(first, `s.phase === 'in-call'`, 'alice in the room');
  assert.match(alone.status, /In room "demo" as alice\. Waiting for others to join/);
  await second.click('#join');
  const bob = await waitForState(second, `s.remotePeers.length === 1 && s.remotePeers[0].connectionState === 'connected'`, 'bob connected to alice');
  const alice = await waitForState(first, `s.remotePeers.length === 1 && s.remotePeers[0].connectionState === 'connected'`, 'alice connected to bob');
  const bobStatuses = statuses(bob);
  const at = (re: RegExp) => bobStatuses.findIndex((s) => re.test(s));
  assert.ok(at(/^Connecting to ws:\/\/127\.0\.0\.1:\d+\/websocket\/demo/) >= 0, bobStatuses.join('\n'));
  assert.ok(at(/^Connected to ws:\/\/.*, authenticating as bob/) > at(/^Connecting/), 'right after the socket opens');
  assert.ok(at(/^In room "demo" as bob\. Calling alice/) > at(/^Connected to/), 'right after authenticated');
  assert.ok(at(/^In a call with alice in room "demo"/) > at(/^In room/), 'once the call connects');
  assert.ok(statuses(alice).some((s) => /^bob joined room "demo"/.test(s)), statuses(alice).join('\n'));

  await first.click('#hangup');
  const left = await waitForState(second, `s.remotePeers.length === 0 && /alice left/.test(s.status)`, 'bob told alice left');
  assert.match(left.status, /^alice left\. In room "demo" as bob with nobody now\./);
  assert.match((await state(first)).status, /^Left room "demo"/);
  assert.deepEqual(errors, []);
});

test('?relay=1 in dev mode without --allow-loopback-peers: the call fails and the page explains the flag', { skip, timeout: 180_000 }, async (t) => {
  const { port, browser } = await setup(t, { turnPort: 0 }); // TURN on, allowLoopbackPeers off (the default)
  const pages: Page[] = [];
  for (const username of ['alice', 'bob']) {
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/?room=relay-fail&username=${username}&password=demo&autojoin=1&relay=1`);
    await waitForState(page, `s.phase === 'in-call'`, `${username} in the room`);
    pages.push(page);
  }
  const startedAt = performance.now();
  const failed = await waitForState(pages[1]!, `s.hint !== ''`, 'the hint', 120_000);
  const failedAfterMs = performance.now() - startedAt;
  assert.match(failed.status, /The call with alice failed/);
  assert.match(failed.hint, /--allow-loopback-peers/);
  assert.match(failed.hint, /WEBRTC_SERVER_ALLOW_LOOPBACK_PEERS=true/);
  assert.equal(await pages[1]!.locator('#hint').isVisible(), true, 'shown on the page');
  t.diagnostic(`relay-only call failed and the hint showed ${(failedAfterMs / 1000).toFixed(1)} s after both joined`);
});

test('favicon: linked from the page and served as SVG', { skip }, async (t) => {
  const { port, browser } = await setup(t, { turnPort: false });
  const page = await browser.newPage();
  t.after(() => page.close());
  const icons: number[] = [];
  page.on('response', (r) => {
    if (/favicon/.test(r.url())) icons.push(r.status());
  });
  await page.goto(`http://127.0.0.1:${port}/`);
  assert.equal(await page.locator('link[rel="icon"]').getAttribute('href'), '/favicon.svg');
  const response = await fetch(`http://127.0.0.1:${port}/favicon.svg`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/svg+xml');
  assert.match(await response.text(), /^<svg /);
  assert.ok(!icons.includes(404), `no favicon 404: ${icons}`);
});

test('the `example` option serves the example and /client/ outside dev mode; off by default there, on by default in dev mode', async (t) => {
  ensureClientBuilt();
  const get = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  const prod = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', auth: { users: { alice: 'pw' } } });
  t.after(() => prod.stop());
  const withExample = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', auth: { users: { alice: 'pw' } }, example: true });
  t.after(() => withExample.stop());
  const devWithout = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', example: false });
  t.after(() => devWithout.stop());
  const paths = ['/', '/app.js', '/client/index.js', '/client/mesh.js', '/config.json', '/favicon.svg'];
  for (const path of paths) {
    assert.equal(await get(prod.signalingAddress()!.port, path), 404, `prod without example: ${path}`);
    assert.equal(await get(withExample.signalingAddress()!.port, path), 200, `prod with example: ${path}`);
    assert.equal(await get(devWithout.signalingAddress()!.port, path), 404, `dev with example: false: ${path}`);
  }
  assert.equal(await get(withExample.signalingAddress()!.port, '/client/../package.json'), 404);
  assert.equal(await get(withExample.signalingAddress()!.port, '/client/index.d.ts'), 404, 'only the .js modules');

  assert.equal(parseOptions({}).example, true, 'dev mode serves it by default');
  assert.equal(parseOptions({ auth: { users: { a: 'b' } } }).example, false);
  assert.throws(() => parseOptions({ example: 'yes' }), /example/);
});

test('the daemon: --example and WEBRTC_SERVER_EXAMPLE=true serve the example with auth configured; without them it is not served', async (t) => {
  const prod = ['--port', '0', '--turn-port', 'false', '--auth', '{"users":{"alice":"pw"}}'];
  const cases: [string, string[], Record<string, string>, number][] = [
    ['--example', [...prod, '--example'], {}, 200],
    ['WEBRTC_SERVER_EXAMPLE=true', prod, { WEBRTC_SERVER_EXAMPLE: 'true' }, 200],
    ['neither', prod, {}, 404],
  ];
  for (const [what, args, env, status] of cases) {
    const { daemon, port } = await startDaemon(t, args, { env });
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, status, what);
    assert.equal((await fetch(`http://127.0.0.1:${port}/client/index.js`)).status, status, what);
    if (status === 200) await daemon.waitForLine((l) => l.msg === 'example client served', 5000, `${what}: the log says so`);
    else assert.equal(daemon.lines.some((l) => l.msg === 'example client served'), false, `${what}: the log does not say so`);
  }
});
