/**
 * TURN over TCP and TLS in the whole server (`turnTcp`, `turnTlsPort`):
 * where each transport listens, one log line per listener, the signaling
 * credentials over each, an allocation ending with its stream, and the one
 * TLS port shared by signaling and TURN (a WebSocket login, HTTP routes and
 * a TURN/TLS allocation on the same port, told apart by their first bytes).
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { connect as tcpConnect } from 'node:net';
import { get as httpGet } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/index.js';
import type { Options, ServerHandle } from '../../src/index.js';
import { StunClass } from '../../src/turn/stun.js';
import { classifyFirstBytes } from '../../src/signaling/shared-tls-port.js';
import { freePort, joinUrl, makeCert, tempDir } from '../helpers/fixtures.js';
import { memoryLogger, USERS } from '../helpers/server.js';
import { poll } from '../helpers/wait.js';
import { errorCodeOf, RawTurnClient, UdpEndpoint } from '../turn/helpers.js';

const BASE: Options = { host: '127.0.0.1', port: 0, turnPort: 0, logLevel: 'silent', auth: { users: { ...USERS } }, allowLoopbackPeers: true };

async function start(t: TestContext, options: Options, logger = memoryLogger('info')): Promise<{ server: ServerHandle; lines: () => any[] }> {
  const server = await startServer({ ...BASE, ...options }, { logger: logger.logger });
  t.after(() => server.stop());
  return { server, lines: logger.lines };
}

const to = (a: { host: string; port: number }) => ({ address: '127.0.0.1', port: a.port });

async function metric(port: number, series: string, scheme: 'http' | 'https' = 'http'): Promise<number> {
  const text = await get(port, '/metrics', scheme);
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** GET over HTTP or HTTPS (any certificate: the tests' own): the body, after a status line of the status. */
async function get(port: number, path: string, scheme: 'http' | 'https' = 'http'): Promise<string> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (scheme === 'http' ? httpGet : httpsGet)({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, resolve);
    req.once('error', reject);
  });
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return `${res.statusCode}\n${body}`;
}

/** Allocates over `client`, relays one Send indication to a UDP peer and one datagram back. */
async function relaysBothWays(client: RawTurnClient<any>): Promise<void> {
  const peer = await UdpEndpoint.open();
  try {
    const allocated = await client.allocate();
    assert.equal(allocated.cls, StunClass.SUCCESS, `allocate: ${errorCodeOf(allocated)}`);
    assert.equal((await client.createPermission(peer.address)).cls, StunClass.SUCCESS);
    client.sendIndication(peer.address, Buffer.from('out'));
    assert.equal((await peer.next()).data.toString(), 'out');
    peer.send(Buffer.from('back'), client.relay!);
    assert.equal((await client.nextDataIndication()).data.toString(), 'back');
  } finally {
    peer.close();
  }
}

describe('TURN over TCP (turnTcp)', () => {
  test('on by default: TCP on the UDP port number, the signaling credentials, one log line per listener', async (t) => {
    const { server, lines } = await start(t, {});
    const a = server.turnAddresses()!;
    assert.equal(a.tcp!.port, a.udp.port);
    assert.equal(a.tls, null, 'no certificate, no TLS');
    assert.deepEqual(server.turnAddress(), a.udp);
    assert.ok(lines().some((l) => l.transport === 'tcp' && l.port === a.tcp!.port && /tcp:\/\/127\.0\.0\.1:\d+/.test(l.msg)));
    const client = await RawTurnClient.openStream(to(a.tcp!), 'tcp', 'alice', USERS.alice);
    await relaysBothWays(client);
    const signaling = server.signalingAddress()!.port;
    assert.equal(await metric(signaling, 'webrtc_turn_allocations{kind="allocations"}'), 1);
    client.close();
    assert.ok(await poll(async () => (await metric(signaling, 'webrtc_turn_allocations{kind="allocations"}')) === 0, 3000, 50), 'the allocation ends with its stream');
    const wrong = await RawTurnClient.openStream(to(a.tcp!), 'tcp', 'alice', 'wrong');
    t.after(() => wrong.close());
    assert.equal(errorCodeOf(await wrong.allocate()), 401);
  });

  test('turnTcp: false: no TCP listener', async (t) => {
    const { server } = await start(t, { turnTcp: false });
    const a = server.turnAddresses()!;
    assert.equal(a.tcp, null);
    const refused = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port: a.udp.port });
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', () => resolve(true));
    });
    assert.ok(refused, 'nothing listens on TCP');
  });
});

describe('TURN over TLS (turnTlsPort)', () => {
  test('a port of its own with the signaling certificate; the stream relays and its allocation ends with it', async (t) => {
    const cert = makeCert(tempDir(t));
    const tlsPort = await freePort();
    const { server, lines } = await start(t, { ...cert, turnTlsPort: tlsPort });
    const a = server.turnAddresses()!;
    assert.equal(a.tls!.port, tlsPort);
    assert.ok(lines().some((l) => l.transport === 'tls' && l.port === tlsPort));
    const client = await RawTurnClient.openStream(to(a.tls!), 'tls', 'bob', USERS.bob);
    await relaysBothWays(client);
    client.close();
    const signaling = server.signalingAddress()!.port;
    assert.ok(await poll(async () => (await metric(signaling, 'webrtc_turn_allocations{kind="allocations"}', 'https')) === 0, 3000, 50));
  });

  test('reloadTls (SIGHUP) gives new TURN handshakes the new certificate', async (t) => {
    const dir = tempDir(t);
    const first = makeCert(mkdtempSync(join(dir, 'a-')));
    const second = makeCert(mkdtempSync(join(dir, 'b-')));
    const cert = { certfile: join(dir, 'cert.pem'), keyfile: join(dir, 'key.pem') };
    copyFileSync(first.certfile, cert.certfile);
    copyFileSync(first.keyfile, cert.keyfile);
    const { server } = await start(t, { ...cert, turnTlsPort: await freePort() });
    const port = server.turnAddresses()!.tls!.port;
    const shown = async (): Promise<string> => {
      const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      return fingerprint;
    };
    const before = await shown();
    copyFileSync(second.certfile, cert.certfile);
    copyFileSync(second.keyfile, cert.keyfile);
    assert.equal(server.reloadTls().reloaded, true);
    const after = await shown();
    assert.notEqual(after, before);
    assert.equal(after, new X509Certificate(readFileSync(second.certfile)).fingerprint256);
  });

  test('turnTlsPort: false: no TLS listener even with a certificate', async (t) => {
    const cert = makeCert(tempDir(t));
    const { server } = await start(t, { ...cert, turnTlsPort: false });
    assert.equal(server.turnAddresses()!.tls, null);
  });

  test('a taken TLS port fails the start naming turnTlsPort', async (t) => {
    const cert = makeCert(tempDir(t));
    const { server } = await start(t, { ...cert, turnTlsPort: await freePort() });
    const taken = server.turnAddresses()!.tls!.port;
    await assert.rejects(
      async () => (await startServer({ ...BASE, ...cert, turnTlsPort: taken })).stop(),
      (err: Error) => /turnTlsPort/.test(err.message),
    );
  });
});

describe('one TLS port for signaling and TURN (turnTlsPort equal to port)', () => {
  test('first bytes: STUN (00 bits and the magic cookie) is TURN; an HTTP method or anything else is HTTP', () => {
    const stun = Buffer.from('000300002112a442', 'hex');
    assert.equal(classifyFirstBytes(stun), 'turn');
    assert.equal(classifyFirstBytes(stun.subarray(0, 7)), null, 'not enough to tell yet');
    assert.equal(classifyFirstBytes(Buffer.from('GET / HTTP/1.1\r\n')), 'http', "'G' is 0x47, inside ChannelData's range: a fresh stream's first message is STUN");
    assert.equal(classifyFirstBytes(Buffer.from('0003000011223344', 'hex')), 'http', 'no magic cookie');
    assert.equal(classifyFirstBytes(Buffer.from([0x40, 0x00, 0x00, 0x04])), 'http');
    assert.equal(classifyFirstBytes(Buffer.alloc(0)), null);
  });

  test('a WebSocket login, /healthz and a TURN/TLS allocation on the same port', async (t) => {
    const cert = makeCert(tempDir(t));
    const port = await freePort();
    const { server, lines } = await start(t, { ...cert, port, turnTlsPort: port });
    assert.equal(server.signalingAddress()!.port, port);
    assert.deepEqual(server.turnAddresses()!.tls, server.signalingAddress());
    assert.ok(lines().some((l) => l.shared === 'turn' && l.port === port));

    const turn = await RawTurnClient.openStream({ address: '127.0.0.1', port }, 'tls', 'alice', USERS.alice);
    t.after(() => turn.close());
    const alice = await joinUrl(`wss://127.0.0.1:${port}/websocket/one-port`, 'alice', USERS.alice, { rejectUnauthorized: false });
    t.after(() => alice.close());
    await relaysBothWays(turn);
    const bob = await joinUrl(`wss://127.0.0.1:${port}/websocket/one-port`, 'bob', USERS.bob, { rejectUnauthorized: false });
    t.after(() => bob.close());
    assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
    assert.match(await get(port, '/healthz', 'https'), /^200\n/);
    assert.equal(await metric(port, 'webrtc_turn_allocations{kind="allocations"}', 'https'), 1);
    assert.equal((await turn.refresh(600)).cls, StunClass.SUCCESS, 'the TURN stream goes on next to signaling');
    turn.close();
    assert.ok(await poll(async () => (await metric(port, 'webrtc_turn_allocations{kind="allocations"}', 'https')) === 0, 3000, 50));
  });

  test('port 0 for both shares one free port', async (t) => {
    const cert = makeCert(tempDir(t));
    const { server } = await start(t, { ...cert, port: 0, turnTlsPort: 0 });
    assert.deepEqual(server.turnAddresses()!.tls, server.signalingAddress());
    const turn = await RawTurnClient.openStream(to(server.signalingAddress()!), 'tls', 'carol', USERS.carol);
    t.after(() => turn.close());
    assert.equal((await turn.allocate()).cls, StunClass.SUCCESS);
  });

  test('bounded: a TLS client that sends nothing after its handshake is closed after handshakeTimeout, and counted; garbage goes to HTTP (400)', async (t) => {
    const cert = makeCert(tempDir(t));
    const { server } = await start(t, { ...cert, port: 0, turnTlsPort: 0, handshakeTimeout: 400 });
    const port = server.signalingAddress()!.port;
    const silent = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    silent.on('error', () => {});
    await new Promise<void>((resolve) => silent.once('secureConnect', () => resolve()));
    const started = performance.now();
    await new Promise<void>((resolve) => silent.once('close', () => resolve()));
    const after = performance.now() - started;
    assert.ok(after >= 300 && after < 3000, `closed after ${Math.round(after)} ms`);
    assert.equal(await metric(port, 'webrtc_connections_refused_total{reason="handshake_timeout"}', 'https'), 1);

    const garbage = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    garbage.on('error', () => {});
    garbage.end(Buffer.alloc(64 * 1024, 0x01));
    let answer = '';
    for await (const chunk of garbage) answer += String(chunk);
    assert.match(answer, /^HTTP\/1\.1 4\d\d/, 'answered by HTTP');
    assert.match(await get(port, '/healthz', 'https'), /^200\n/, 'the listener goes on');
  });

  test('attached to a server of yours, turnTlsPort cannot be its port', async () => {
    const { attach } = await import('../../src/index.js');
    const { createServer } = await import('node:https');
    const https = createServer();
    await assert.rejects(
      async () => (await attach(https, { ...BASE, certfile: 'c.pem', keyfile: 'k.pem', port: 0, turnTlsPort: 0 })).stop(),
      (err: Error & { option?: string }) => err.option === 'turnTlsPort',
    );
  });
});
