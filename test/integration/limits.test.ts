/**
 * The signaling listener's limits (README "Security and limits"): bytes read
 * while a password check is pending, connections per IP and in all, the
 * handshake timeout, allowed origins and password guessing. Real sockets on
 * 127.0.0.1; every loop is bounded.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { createServer } from 'node:http';
import { get as httpsGet } from 'node:https';
import { WebSocket } from 'ws';
import { attach } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { TestClient } from '../helpers/client.js';
import { makeCert, tempDir } from '../helpers/fixtures.js';
import { authFrame, gate, nextJson, upgradeStatus, within } from '../helpers/protocol.js';
import { sleep, testServer, USERS } from '../helpers/server.js';
import { poll } from '../helpers/wait.js';

type Server = Awaited<ReturnType<typeof testServer>>;

async function start(t: TestContext, options: Options = {}): Promise<Server> {
  const server = await testServer(options);
  t.after(() => server.stop());
  return server;
}

async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** A raw TCP connection that sends nothing (or only `bytes`); resolves once connected. */
function rawConnection(t: TestContext, port: number, bytes = ''): Promise<Socket & { closedAt: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      if (bytes) socket.write(bytes);
      resolve(Object.assign(socket, { closedAt: new Promise<number>((r) => socket.once('close', () => r(performance.now()))) }));
    });
    socket.on('error', () => {});
    socket.once('error', reject);
    socket.resume(); // read whatever comes, so that the server's close is seen
    t.after(() => socket.destroy());
  });
}

/** The first upgrade status that is not 429/503 within a second (the server sees a close a little after the client). */
async function upgradeEventually(port: number, path: string): Promise<number | undefined> {
  return poll(async () => {
    const status = await upgradeStatus(port, path);
    return status === 429 || status === 503 ? undefined : status;
  }, 1_000, 50);
}

/** GET over https from our own test certificate. */
function getInsecure(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The status of an upgrade with these extra headers (101 when accepted). */
function upgradeWith(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/websocket/room`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

describe('bytes read while a password check is pending', () => {
  test('reading stops: 15 MiB sent behind a pending check stay in the client, not in the server', async (t) => {
    const held = gate();
    const server = await start(t, {
      auth: async (u: string) => {
        await held.promise;
        return (USERS as Record<string, string>)[u];
      },
      maxMessageBytes: 65_536,
    });
    t.after(() => held.open());
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', USERS.alice));
    await sleep(50);
    const chunk = JSON.stringify({ data: 'x'.repeat(60_000) });
    for (let i = 0; i < 250; i++) c.send(chunk); // 15 MB
    await sleep(1000);
    const unread = c.ws.bufferedAmount;
    assert.ok(unread > 10 * 1024 * 1024, `the server stopped reading: ${unread} bytes still wait in the client`);
    held.open();
    assert.equal((await nextJson(c, 5000)).event, 'authenticated', 'the check completes, then reading resumes');
    c.ws.terminate();
  });
});

describe('deeply nested frames', () => {
  test('a member\'s frames nested 16,000 deep (with and without its own `from`) get invalid_json; the server and the member go on', async (t) => {
    const server = await start(t);
    const alice = await TestClient.join(server.port, 'deep', 'alice', USERS.alice);
    const bob = await TestClient.join(server.port, 'deep', 'bob', USERS.bob);
    assert.equal((await nextJson(alice)).event, 'joined');
    const deep = '['.repeat(16_000) + ']'.repeat(16_000);
    for (const top of ['"event":"x"', '"event":"x","from":"forged"', `"event":"x","to":"${alice.peerId}"`]) {
      bob.send(`{${top},"data":${deep}}`);
      assert.deepEqual(await nextJson(bob), { event: 'invalid_message', data: { reason: 'invalid_json' } }, top);
    }
    bob.sendJson({ event: 'hello' });
    assert.deepEqual(await nextJson(alice), { event: 'hello', from: bob.peerId }, 'nothing deep was forwarded; bob is still in');
  });
});

describe('pings from a client that does not read', () => {
  test('a flood of WebSocket pings, its pongs never read, is cut off (ws: at most 60 pongs pending), nothing piles up', async (t) => {
    const server = await start(t);
    const upgrade = 'GET /websocket/room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const socket = await rawConnection(t, server.port, upgrade);
    await new Promise((resolve) => socket.once('data', resolve)); // 101
    socket.pause(); // never reads again: the pongs pile up on the server's side, if anywhere
    const mask = Buffer.from([1, 2, 3, 4]);
    const ping = Buffer.concat([Buffer.from([0x89, 0x80 | 125]), mask, Buffer.alloc(125, 7)]);
    const batch = Buffer.concat(Array(1000).fill(ping));
    let sent = 0;
    socket.on('error', () => {});
    while (!socket.destroyed && sent < 2_000_000) {
      if (!socket.write(batch)) await Promise.race([new Promise((r) => socket.once('drain', r)), socket.closedAt]);
      sent += 1000;
    }
    await within(socket.closedAt, 5_000, 'the server cut the socket');
    assert.ok(sent < 2_000_000, `cut off after ${sent} pings`);
  });
});

describe('maxConnectionsPerIp and maxConnections', () => {
  test('one socket over maxConnectionsPerIp gets 429 at the upgrade; a closed one frees its place', async (t) => {
    const server = await start(t, { maxConnectionsPerIp: 3 });
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await TestClient.open(server.port, 'room'));
    assert.equal(await upgradeStatus(server.port, '/websocket/room'), 429);
    assert.equal(await metric(server.port, 'webrtc_connections_refused_total{reason="per_ip"}'), 1);
    open[0]!.close();
    await open[0]!.closed;
    assert.equal(await upgradeEventually(server.port, '/websocket/room'), 101, 'the place is free again');
    for (const c of open) c.close();
  });

  test('idle TCP connections count: held-open sockets from one IP cannot exceed the cap, and over-cap ones are cut within a second', async (t) => {
    const server = await start(t, { maxConnectionsPerIp: 3, handshakeTimeout: 10_000 });
    const idle = [];
    for (let i = 0; i < 3; i++) idle.push(await rawConnection(t, server.port));
    assert.equal(await upgradeStatus(server.port, '/websocket/room'), 429, 'three idle connections fill the cap');
    const extra = [];
    const opened = performance.now();
    for (let i = 0; i < 20; i++) extra.push(await rawConnection(t, server.port));
    const closedAt = await within(Promise.all(extra.map((s) => s.closedAt)), 5000, 'over-cap connections closed');
    const slowest = Math.max(...closedAt) - opened;
    assert.ok(slowest < 2500, `over-cap idle connections are closed within about a second (slowest ${Math.round(slowest)} ms)`);
    for (const s of idle) assert.equal(s.destroyed, false, 'the first three are left to their handshake timeout');
  });

  test('maxConnections: one socket over the total gets 503', async (t) => {
    const server = await start(t, { maxConnections: 2 });
    const a = await TestClient.open(server.port, 'room');
    const b = await TestClient.open(server.port, 'room');
    assert.equal(await upgradeStatus(server.port, '/websocket/room'), 503);
    assert.equal(await metric(server.port, 'webrtc_connections_refused_total{reason="total"}'), 1);
    a.close();
    b.close();
  });

  test('on a user\'s server (attach) sockets are counted from their upgrade', async (t) => {
    const http = createServer((_req, res) => res.end('mine'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(() => http.close());
    const server = await attach(http, { auth: { users: { ...USERS } }, turnPort: false, logLevel: 'silent', maxConnectionsPerIp: 2 });
    t.after(() => server.stop());
    const port = (http.address() as { port: number }).port;
    const a = await TestClient.open(port, 'room');
    const b = await TestClient.open(port, 'room');
    assert.equal(await upgradeStatus(port, '/websocket/room'), 429);
    a.close();
    await a.closed;
    assert.equal(await upgradeEventually(port, '/websocket/room'), 101, 'the place is free again');
    b.close();
  });
});

describe('handshakeTimeout', () => {
  test('a connection that sends nothing, or half an upgrade, is answered 408 and closed after handshakeTimeout', async (t) => {
    const server = await start(t, { handshakeTimeout: 500 });
    const started = performance.now();
    const silent = await rawConnection(t, server.port);
    const half = await rawConnection(t, server.port, 'GET /websocket/room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    let answer = '';
    half.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = await within(Promise.all([silent.closedAt, half.closedAt]), 5000, 'closed');
    for (const at of closed) {
      const after = at - started;
      assert.ok(after >= 450 && after < 2500, `closed after ${Math.round(after)} ms`);
    }
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.equal(await metric(server.port, 'webrtc_connections_refused_total{reason="handshake_timeout"}'), 2);
    const ok = await TestClient.open(server.port, 'room');
    assert.equal(ok.ws.readyState, WebSocket.OPEN, 'the listener goes on');
    ok.close();
  });

  test('with TLS, a connection that never finishes its handshake is closed after handshakeTimeout, and counted', async (t) => {
    const { certfile, keyfile } = makeCert(tempDir(t));
    const server = await start(t, { handshakeTimeout: 500, certfile, keyfile });
    const started = performance.now();
    const silent = await rawConnection(t, server.port);
    const after = (await within(silent.closedAt, 5000, 'closed')) - started;
    assert.ok(after >= 450 && after < 2500, `closed after ${Math.round(after)} ms`);
    const text = await getInsecure(server.port, '/metrics');
    assert.match(text, /^webrtc_connections_refused_total\{reason="handshake_timeout"\} 1$/m);
  });
});

describe('allowedOrigins', () => {
  test('an Origin not listed gets 403; a listed one (any case, default port) and none (not a browser) are accepted', async (t) => {
    const server = await start(t, { allowedOrigins: ['https://app.example.com', 'http://localhost:3000'] });
    assert.equal(await upgradeWith(server.port, { Origin: 'https://evil.example' }), 403);
    assert.equal(await upgradeWith(server.port, { Origin: 'https://app.example.com.evil.example' }), 403);
    assert.equal(await upgradeWith(server.port, { Origin: 'null' }), 403);
    assert.equal(await upgradeWith(server.port, { Origin: 'https://app.example.com' }), 101);
    assert.equal(await upgradeWith(server.port, { Origin: 'https://APP.example.com' }), 101);
    assert.equal(await upgradeWith(server.port, { Origin: 'http://localhost:3000' }), 101);
    assert.equal(await upgradeWith(server.port, {}), 101);
    assert.equal(await metric(server.port, 'webrtc_connections_refused_total{reason="origin"}'), 3);
  });

  test('"*" and no option accept any origin', async (t) => {
    for (const options of [{ allowedOrigins: ['*'] }, {}]) {
      const server = await start(t, options);
      assert.equal(await upgradeWith(server.port, { Origin: 'https://anywhere.example' }), 101);
    }
  });
});

describe('password guessing', () => {
  test('an IP that failed too often is refused unchecked, even with the right password; metrics count it', async (t) => {
    let lookups = 0;
    const server = await start(t, {
      auth: (u: string) => {
        lookups++;
        return (USERS as Record<string, string>)[u];
      },
    });
    // 20 failures (the per-IP burst) over 4 sockets of maxAuthAttempts 5
    for (let socket = 0; socket < 4; socket++) {
      const c = await TestClient.open(server.port, 'room');
      for (let i = 0; i < 5; i++) {
        c.sendJson(authFrame(`guess${socket}`, `wrong${i}`));
        assert.deepEqual(await nextJson(c), { event: 'unauthorized' });
      }
      await c.closed;
    }
    assert.equal(lookups, 20);
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', USERS.alice));
    assert.deepEqual(await nextJson(c), { event: 'unauthorized' }, 'refused without asking auth');
    assert.equal(lookups, 20);
    assert.equal(await metric(server.port, 'webrtc_auth_throttled_total{transport="signaling",scope="ip"}'), 1);
    assert.equal(await metric(server.port, 'webrtc_auth_failures_total{transport="signaling"}'), 21);
    c.close();
  });

  /** `n` sockets from 127.0.0.1 authenticating at once as user0..n-1 (`password(i)`): what each was answered. */
  async function loginAtOnce(port: number, n: number, password: (i: number) => string): Promise<string[]> {
    const clients = await Promise.all(Array.from({ length: n }, () => TestClient.open(port, 'office')));
    clients.forEach((c, i) => c.sendJson(authFrame(`user${i}`, password(i))));
    const answers = await Promise.all(clients.map(async (c) => ((await nextJson(c)) as { event: string }).event));
    for (const c of clients) c.close();
    return answers;
  }

  const slowAuth = (calls: { n: number; inFlight: number; most: number }) => async (u: string) => {
    calls.n++;
    calls.most = Math.max(calls.most, ++calls.inFlight);
    await sleep(100);
    calls.inFlight--;
    return `${u}-pw`;
  };

  test('60 users behind one address logging in at once with a slow auth backend all get in (checks beyond the burst wait, not refused)', async (t) => {
    const calls = { n: 0, inFlight: 0, most: 0 };
    const server = await start(t, { auth: slowAuth(calls), maxConnectionsPerIp: 100 });
    const answers = await loginAtOnce(server.port, 60, (i) => `user${i}-pw`);
    assert.deepEqual(answers, Array(60).fill('authenticated'));
    assert.equal(calls.n, 60);
    assert.ok(calls.most <= 20, `at most the per-IP burst of checks in flight at once: ${calls.most}`);
  });

  test('a username longer than TURN can carry (508 bytes) is refused unchecked: auth is not asked, no bucket is kept for it', async (t) => {
    const asked: string[] = [];
    const server = await start(t, { auth: (u: string) => (asked.push(u), `${u}-pw`) });
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('x'.repeat(60_000), 'pw'));
    assert.deepEqual(await nextJson(c), { event: 'unauthorized' });
    const name = 'n'.repeat(508);
    c.sendJson(authFrame(name, `${name}-pw`));
    assert.equal(((await nextJson(c)) as { event: string }).event, 'authenticated');
    assert.deepEqual(asked, [name]);
    c.close();
  });

  test('an auth backend that never answers holds no guess token past authTimeout: the address is not locked out', async (t) => {
    const server = await start(t, {
      authTimeout: 300,
      auth: (u: string) => (u === 'stuck' ? new Promise<string>(() => {}) : (USERS as Record<string, string>)[u]),
    });
    // the per-IP burst (20) of checks that never end
    const stuck = await Promise.all(Array.from({ length: 20 }, () => TestClient.open(server.port, 'room')));
    for (const c of stuck) c.sendJson(authFrame('stuck', 'pw'));
    for (const c of stuck) await within(c.closed, 2_000, 'closed at authTimeout');
    const c = await TestClient.open(server.port, 'room');
    c.sendJson(authFrame('alice', USERS.alice));
    assert.equal(((await nextJson(c)) as { event: string }).event, 'authenticated');
    c.close();
  });

  test('60 wrong passwords at once from one address: the auth backend sees the per-IP burst (20), every one is refused', async (t) => {
    const calls = { n: 0, inFlight: 0, most: 0 };
    const server = await start(t, { auth: slowAuth(calls), maxConnectionsPerIp: 100 });
    const answers = await loginAtOnce(server.port, 60, (i) => `wrong${i}`);
    assert.deepEqual(answers, Array(60).fill('unauthorized'));
    assert.equal(calls.n, 20);
  });
});
