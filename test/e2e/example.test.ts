/**
 * End to end: the example client (`example/`, served by the dev-mode server at `/`)
 * in headless Chromium. Three pages join one room and make a full-mesh video call
 * over 127.0.0.1 (host candidates only, TURN off); then one hangs up. With TURN on,
 * two pages with `?relay=1` call relay to relay through our TURN, which the client
 * finds through the server's `/config.json`.
 *
 * Everything is observed through the client's `window.webrtcExample.state()` hook.
 * Set EXAMPLE_SCREENSHOT_DIR to save screenshots of the connected pages.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/index.js';
import type { Options, ServerHandle } from '../../src/index.js';
import { iceServersFor } from '../../src/http/static-example.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { RedisProcess, redisSkip } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { assertFullMesh, open, sample, state, WAIT_MS, waitForPairs, waitForState } from '../helpers/example-page.js';
import type { Member } from '../helpers/example-page.js';

const skip = chromiumAvailable() ? false : `no Chromium at ${CHROMIUM_PATH}`;

/** GET over node:http (fetch would not send our own Host header). */
function httpJson(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, headers, timeout: WAIT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? null, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${WAIT_MS} ms`)));
    req.on('error', reject);
  });
}

async function setup(t: TestContext, options: Options = { turnPort: false }): Promise<{ server: ServerHandle; port: number; browser: Browser }> {
  // Dev mode (no `auth`): the demo users alice/bob/carol/dave with password `demo`, and the example at `/`.
  const server = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...options });
  t.after(() => server.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  return { server, port: server.signalingAddress()!.port, browser };
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

test('a wrong password shows `unauthorized`, turns the camera off and lets the user retry; a server shutdown shows close code 1001 and the page rejoins the restarted server', { skip, timeout: 60_000 }, async (t) => {
  const { server, browser, port } = await setup(t);
  const context = await browser.newContext();
  const page = await context.newPage();
  const member: Member = { username: 'dave', page, errors: [] };
  page.on('pageerror', (err) => member.errors.push(err.message));
  await page.goto(`http://127.0.0.1:${port}/?room=e2e-auth&username=dave&password=wrong&autojoin=1`);
  const refused = await waitForState(member, `s.phase === 'error'`, 'unauthorized');
  assert.match(refused.status, /unauthorized/i);
  assert.equal(refused.hasLocalVideo, false, 'the camera is off after unauthorized');
  assert.equal(await page.isEnabled('#join'), true, 'the form is usable again');

  await page.fill('#password', 'demo');
  await page.click('#join');
  const joined = await waitForState(member, `s.phase === 'in-call' && s.peerId`, 'authenticated after retry');
  assert.match(joined.peerId!, /^[A-Za-z0-9+/]{14}==$/);

  await server.stop();
  const closed = await waitForState(member, `s.phase === 'reconnecting' && s.lastClose`, 'close shown');
  assert.equal(closed.lastClose!.code, 1001);
  assert.match(closed.status, /1001.*shutting down.*Reconnecting/);

  const restarted = await startServer({ host: '127.0.0.1', port, turnPort: false, logLevel: 'silent' });
  t.after(() => restarted.stop());
  const back = await waitForState(member, `s.phase === 'in-call' && s.peerId && s.peerId !== ${JSON.stringify(joined.peerId)}`, 'rejoined after the restart');
  assert.match(back.status, /Back in room "e2e-auth"/);
  assert.deepEqual(restarted.peers('e2e-auth').map((p) => p.username), ['dave']);
  assert.deepEqual(member.errors, []);
});

test('/config.json gives the example our STUN/TURN at the page\'s host, [] when TURN is off', async (t) => {
  const off = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent' });
  t.after(() => off.stop());
  const offPort = off.signalingAddress()!.port;
  assert.deepEqual(await httpJson(offPort, '/config.json'), { status: 200, type: 'application/json', json: { iceServers: [] } });

  const on = await startServer({ host: '127.0.0.1', port: 0, turnPort: 0, logLevel: 'silent' });
  t.after(() => on.stop());
  const port = on.signalingAddress()!.port;
  const turn = on.turnAddress()!;
  assert.deepEqual((await httpJson(port, '/config.json')).json, {
    iceServers: [
      { urls: `stun:127.0.0.1:${turn.port}` },
      { urls: `turn:127.0.0.1:${turn.port}?transport=udp` },
      { urls: `turn:127.0.0.1:${turn.port}?transport=tcp` },
    ],
  });
  // the host the page was loaded from (the Host header), with TURN's real port
  assert.deepEqual((await httpJson(port, '/config.json?x=1', { host: `demo.test:${port}` })).json, {
    iceServers: [
      { urls: `stun:demo.test:${turn.port}` },
      { urls: `turn:demo.test:${turn.port}?transport=udp` },
      { urls: `turn:demo.test:${turn.port}?transport=tcp` },
    ],
  });
  // UDP only with turnTcp: false
  const udpOnly = await startServer({ host: '127.0.0.1', port: 0, turnPort: 0, turnTcp: false, logLevel: 'silent' });
  t.after(() => udpOnly.stop());
  const udp = udpOnly.turnAddress()!;
  assert.deepEqual((await httpJson(udpOnly.signalingAddress()!.port, '/config.json')).json, {
    iceServers: [{ urls: `stun:127.0.0.1:${udp.port}` }, { urls: `turn:127.0.0.1:${udp.port}?transport=udp` }],
  });

  // not served without dev mode (the example is not either)
  const prod = await startServer({ host: '127.0.0.1', port: 0, turnPort: 0, logLevel: 'silent', auth: { users: { alice: 'pw' } } });
  t.after(() => prod.stop());
  assert.equal((await fetch(`http://127.0.0.1:${prod.signalingAddress()!.port}/config.json`)).status, 404);
});

test('iceServersFor: Host header forms; TURN is IPv4, so an IPv6 page host gets TURN\'s own address; TCP and TLS when on', () => {
  const turn = { udp: { host: '127.0.0.1', port: 3478 }, tcp: null, tls: null };
  const entries = (host: string) => [{ urls: `stun:${host}:3478` }, { urls: `turn:${host}:3478?transport=udp` }];
  assert.deepEqual(iceServersFor('turn.example:443', { ...turn, tcp: turn.udp, tls: { host: '0.0.0.0', port: 443 } }), [
    ...entries('turn.example'),
    { urls: 'turn:turn.example:3478?transport=tcp' },
    { urls: 'turns:turn.example:443' },
  ]);
  assert.deepEqual(iceServersFor('localhost:8080', turn), entries('localhost'));
  assert.deepEqual(iceServersFor('Example.ORG', turn), entries('example.org'));
  assert.deepEqual(iceServersFor('[::1]:8080', turn), entries('127.0.0.1'));
  assert.deepEqual(iceServersFor(undefined, turn), entries('127.0.0.1'));
  assert.deepEqual(iceServersFor('a b/c?d', turn), entries('127.0.0.1'), 'an unusable Host header falls back to TURN\'s address');
  assert.deepEqual(iceServersFor('example.org', null), []);
});

test('relay only (?relay=1): two pages call through our TURN, which the example finds via /config.json', { skip, timeout: 120_000 }, async (t) => {
  const { server, port, browser } = await setup(t, { turnPort: 0, allowLoopbackPeers: true });
  const turn = server.turnAddress()!;
  const members: Member[] = [];
  for (const username of ['alice', 'bob']) {
    const m = await open(browser, port, 'e2e-relay', username, { relay: '1' });
    members.push(m);
    const s = await waitForState(m, `s.phase === 'in-call' && s.peerId`, 'authenticated');
    assert.equal(s.relayOnly, true);
    assert.deepEqual(s.iceServers, [
      { urls: `stun:127.0.0.1:${turn.port}`, withCredential: false },
      { urls: `turn:127.0.0.1:${turn.port}?transport=udp`, withCredential: true },
      { urls: `turn:127.0.0.1:${turn.port}?transport=tcp`, withCredential: true },
    ]);
  }
  const config = (await members[0]!.page.evaluate('window.webrtcExample.rtcConfiguration()')) as { iceTransportPolicy?: string; iceServers: unknown[] };
  assert.equal(config.iceTransportPolicy, 'relay');
  assert.deepEqual(config.iceServers[1], { urls: `turn:127.0.0.1:${turn.port}?transport=udp`, username: 'alice', credential: 'demo' }, 'the signaling login is the TURN credential');

  await assertFullMesh(members);
  for (const m of members) {
    const [pair] = await waitForPairs(m, (p) => p.length === 1 && p[0]!.state === 'succeeded' && p[0]!.local !== null && p[0]!.remote !== null, 'a selected candidate pair');
    assert.equal(pair!.local!.candidateType, 'relay', `${m.username}'s local candidate is relayed`);
    assert.equal(pair!.remote!.candidateType, 'relay', `${m.username}'s remote candidate is relayed`);
    assert.equal(pair!.local!.protocol, 'udp');
  }

  // the server saw it: allocations on our TURN and relayed bytes
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.ok((sample(metrics, 'webrtc_turn_allocations{kind="allocations"}') ?? 0) >= 2, 'both pages hold an allocation');
  assert.ok((sample(metrics, 'webrtc_turn_relayed_bytes_total') ?? 0) > 0, 'media went through the relay');
  for (const m of members) assert.deepEqual(m.errors, [], `no uncaught errors in ${m.username}'s page`);
});

test('a cluster: two browsers on two servers sharing one Redis make a call', { skip: skip || redisSkip, timeout: 120_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const servers = [];
  for (let i = 0; i < 2; i++) {
    const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', redisUrl: redis.url });
    t.after(() => server.stop());
    servers.push(server);
  }
  for (const server of servers) await waitFor(() => server.health().ready, 10_000, 'cluster ready');
  const browser = await launchChromium();
  t.after(() => browser.close());
  const members: Member[] = [];
  for (const [i, username] of ['alice', 'bob'].entries()) {
    const m = await open(browser, servers[i]!.signalingAddress()!.port, 'e2e-cluster', username);
    members.push(m);
    await waitForState(m, `s.phase === 'in-call' && s.peerId`, 'authenticated');
  }
  const states = await assertFullMesh(members);
  for (const server of servers) {
    assert.deepEqual(server.peers('e2e-cluster').map((p) => p.peerId), members.map((m) => states.get(m)!.peerId), 'both servers see both members in join order');
  }
  for (const m of members) assert.deepEqual(m.errors, []);
});
