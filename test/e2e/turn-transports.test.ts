/**
 * End to end over TURN's stream transports: two headless Chromium pages of
 * the example client call each other relay-only (`?relay=1`) with TURN over
 * TCP only (`?transport=tcp`: `turn:…?transport=tcp`), over TLS only
 * (`?transport=tls`: `turns:`), and over TLS on the one port shared with
 * signaling; the call survives a page refresh. Chromium checks the TURN
 * server's certificate like any other: the test makes a CA, signs the
 * server's certificate for 127.0.0.1 with it, and makes Chromium trust that
 * CA (an NSS database in the browser's own HOME): nothing is disabled.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { freePort, tempDir } from '../helpers/fixtures.js';
import { httpsText, makeTrustedCert, nssAvailable } from '../helpers/test-ca.js';
import type { TrustedCert } from '../helpers/test-ca.js';
import { assertFullMesh, open, sample, waitForPairs, waitForState } from '../helpers/example-page.js';
import type { Member } from '../helpers/example-page.js';

const skip = chromiumAvailable() ? (nssAvailable() ? false : 'no certutil (libnss3-tools) to make Chromium trust the test CA') : `no Chromium at ${CHROMIUM_PATH}`;

type Transport = 'tcp' | 'tls';

/**
 * Alice and Bob in a relay-only call through TURN over `transport`; then
 * Bob's page is refreshed and the two call again, still relayed that way.
 */
async function relayCall(t: TestContext, transport: Transport, options: Options, trusted: TrustedCert | null): Promise<void> {
  const server = await startServer({ host: '127.0.0.1', port: 0, turnPort: 0, allowLoopbackPeers: true, logLevel: 'silent', ...options });
  t.after(() => server.stop());
  const browser = await launchChromium(trusted ? { HOME: trusted.home } : {});
  t.after(() => browser.close());
  const ca = trusted ? readFileSync(trusted.cafile) : null;
  const port = server.signalingAddress()!.port;
  const scheme = transport === 'tls' ? 'https' : 'http';
  const turnPort = transport === 'tls' ? server.turnAddresses()!.tls!.port : server.turnAddresses()!.tcp!.port;
  const room = `e2e-${transport}-${port}`;
  const members: Member[] = [];
  for (const username of ['alice', 'bob']) {
    const m = await open(browser, port, room, username, { relay: '1', transport }, scheme);
    members.push(m);
    const s = await waitForState(m, `s.phase === 'in-call' && s.peerId`, 'authenticated');
    const turnUrls = s.iceServers.map((e) => String(e.urls)).filter((u) => /^turns?:/.test(u));
    assert.deepEqual(turnUrls, [transport === 'tls' ? `turns:127.0.0.1:${turnPort}` : `turn:127.0.0.1:${turnPort}?transport=tcp`]);
  }
  const relayedOver = async (m: Member) => {
    const [pair] = await waitForPairs(m, (p) => p.length === 1 && p[0]!.state === 'succeeded' && p[0]!.local !== null && p[0]!.remote !== null, 'a selected pair');
    assert.equal(pair!.local!.candidateType, 'relay', `${m.username}'s local candidate is relayed`);
    assert.equal(pair!.remote!.candidateType, 'relay');
    assert.equal(pair!.local!.relayProtocol, transport, `${m.username} reaches TURN over ${transport}`);
  };
  await assertFullMesh(members);
  for (const m of members) await relayedOver(m);

  const bob = members[1]!;
  const before = await waitForState(bob, 's.peerId', 'bob');
  await bob.page.reload();
  await waitForState(bob, `s.phase === 'in-call' && s.peerId && s.peerId !== ${JSON.stringify(before.peerId)}`, 'bob back after the refresh');
  await assertFullMesh(members);
  for (const m of members) await relayedOver(m);

  const metricsUrl = `${scheme}://127.0.0.1:${port}/metrics`;
  const metrics = ca ? await httpsText(metricsUrl, ca) : await (await fetch(metricsUrl)).text();
  assert.ok((sample(metrics, 'webrtc_turn_allocations{kind="allocations"}') ?? 0) >= 2, 'both pages hold an allocation');
  assert.ok((sample(metrics, 'webrtc_turn_relayed_bytes_total') ?? 0) > 0, 'media went through the relay');
  for (const m of members) assert.deepEqual(m.errors, [], `no uncaught errors in ${m.username}'s page`);
}

test('relay only over TURN/TCP (turn:…?transport=tcp): two pages call, and again after a refresh', { skip, timeout: 180_000 }, async (t) => {
  await relayCall(t, 'tcp', {}, null);
});

test('relay only over TURN/TLS (turns:) on its own port, the certificate checked against a trusted test CA', { skip, timeout: 180_000 }, async (t) => {
  const trusted = await makeTrustedCert(tempDir(t));
  await relayCall(t, 'tls', { certfile: trusted.certfile, keyfile: trusted.keyfile, turnTlsPort: await freePort() }, trusted);
});

test('relay only over TURN/TLS on the one port shared with signaling (turnTlsPort equal to port)', { skip, timeout: 180_000 }, async (t) => {
  const trusted = await makeTrustedCert(tempDir(t));
  await relayCall(t, 'tls', { certfile: trusted.certfile, keyfile: trusted.keyfile, port: 0, turnTlsPort: 0 }, trusted);
});

test('Chromium checks the TURN server\'s certificate: without the test CA trusted, no relayed pair over turns:', { skip, timeout: 120_000 }, async (t) => {
  const trusted = await makeTrustedCert(tempDir(t));
  const server = await startServer({
    host: '127.0.0.1', port: 0, turnPort: 0, allowLoopbackPeers: true, logLevel: 'silent',
    certfile: trusted.certfile, keyfile: trusted.keyfile, turnTlsPort: await freePort(),
  });
  t.after(() => server.stop());
  const browser = await launchChromium(); // the CA is not in this browser's NSS database
  t.after(() => browser.close());
  const port = server.signalingAddress()!.port;
  const members: Member[] = [];
  for (const username of ['alice', 'bob']) {
    // the page itself is let through (only the page: TURN's checks are Chromium's own)
    const m = await open(browser, port, 'untrusted', username, { relay: '1', transport: 'tls' }, 'https', { ignoreHTTPSErrors: true });
    await waitForState(m, `s.phase === 'in-call' && s.peerId`, 'in the call');
    members.push(m);
  }
  await new Promise((r) => setTimeout(r, 10_000));
  for (const m of members) {
    const pairs = (await m.page.evaluate('window.webrtcExample.selectedCandidatePairs()')) as { state: string | null }[];
    assert.ok(pairs.every((p) => p.state !== 'succeeded'), `${m.username}: no relayed pair: ${JSON.stringify(pairs)}`);
  }
  const metrics = await httpsText(`https://127.0.0.1:${port}/metrics`, readFileSync(trusted.cafile));
  assert.equal(sample(metrics, 'webrtc_turn_allocations{kind="allocations"}'), 0, 'no allocation over an untrusted TLS');
});
