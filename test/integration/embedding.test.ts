/**
 * The embedding API (docs/configuration.md, "Embedding"): several servers in one
 * process, `attach` to the user's own http(s) server, our tree as a child of
 * the user's own `Supervisor`, and the package importable by its name.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { attach, rootSupervisorSpec, startServer, Supervisor } from '../../src/index.js';
import type { Options, ServerHandle, Worker } from '../../src/index.js';
import { TestClient } from '../helpers/client.js';
import { within } from '../helpers/protocol.js';
import { ROOT } from '../helpers/daemon.js';
import { authenticateOnce, joinUrl, makeCert, tempDir } from '../helpers/fixtures.js';

const BASE: Options = { host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent' };
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };

const wsUrl = (port: number, room: string, scheme = 'ws') => `${scheme}://127.0.0.1:${port}/websocket/${encodeURIComponent(room)}`;

async function joinAs(t: TestContext, url: string, username: string, password: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
  const c = await joinUrl(url, username, password, options);
  t.after(() => c.close());
  return c;
}

async function openClient(t: TestContext, url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
  const c = new TestClient(url, options);
  t.after(() => c.close());
  await within(c.opened, 5000, `open ${url}`);
  return c;
}

/** GET over http(s); resolves with the status and body. */
function fetchText(url: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const done = (res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      };
      const req = url.startsWith('https:') ? httpsGet(url, { rejectUnauthorized: false }, done) : httpGet(url, done);
      req.on('error', reject);
    }),
    5000,
    `GET ${url}`,
  );
}

/** The user's own app: GET /hello, its own 404, and its own WebSocket echo at /mine. */
function userApp(server: HttpServer | HttpsServer): WebSocketServer {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from the user app');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('user app: not found');
    }
  });
  const mine = new WebSocketServer({ noServer: true });
  mine.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url === '/mine') mine.handleUpgrade(req, socket, head, (ws) => mine.emit('connection', ws, req));
  });
  return mine;
}

function listen(server: HttpServer | HttpsServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: HttpServer | HttpsServer, mine: WebSocketServer): Promise<void> {
  for (const ws of mine.clients) ws.terminate();
  mine.close();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The user's own WebSocket at /mine answers. */
async function assertUserSocket(t: TestContext, url: string, options?: WebSocket.ClientOptions): Promise<void> {
  const c = await openClient(t, url, options);
  c.send('hi');
  assert.equal((await c.next(5000)).text, 'echo:hi');
  c.close();
}

test('two servers in one process share nothing', async (t) => {
  const dev = await startServer({ ...BASE });
  t.after(() => dev.stop());
  const strict = await startServer({ ...BASE, auth: { users: USERS } });
  t.after(() => strict.stop());
  const devPort = dev.signalingAddress()!.port;
  const strictPort = strict.signalingAddress()!.port;
  assert.notEqual(devPort, strictPort);

  const a1 = await joinAs(t, wsUrl(devPort, 'shared'), 'alice', 'demo');
  const b1 = await joinAs(t, wsUrl(strictPort, 'shared'), 'alice', USERS.alice);
  const b2 = await joinAs(t, wsUrl(strictPort, 'shared'), 'bob', USERS.bob);
  assert.deepEqual((await b1.next(5000)).json, { event: 'joined', data: { peer_id: b2.peerId, username: 'bob' } });
  assert.equal(await a1.silent(200), true, 'a member of the other server’s room is not announced');

  assert.deepEqual(dev.peers('shared'), [{ peerId: a1.peerId, username: 'alice' }]);
  assert.deepEqual(strict.peers('shared'), [
    { peerId: b1.peerId, username: 'alice' },
    { peerId: b2.peerId, username: 'bob' },
  ]);

  assert.equal(dev.publish('shared', 'news', { n: 1 }), 1);
  assert.deepEqual((await a1.next(5000)).json, { event: 'news', data: { n: 1 } });
  assert.equal(await b1.silent(200), true);
  assert.equal(strict.send(a1.peerId!, 'psst'), false, 'a peer of the other server is unknown');
  assert.equal(dev.send(a1.peerId!, 'psst'), true);
  assert.deepEqual((await a1.next(5000)).json, { event: 'psst' });

  // Each keeps its own auth.
  const probeStrict = await openClient(t, wsUrl(strictPort, 'shared'));
  assert.equal(await authenticateOnce(probeStrict, 'alice', 'demo'), 'unauthorized');
  const probeDev = await openClient(t, wsUrl(devPort, 'shared'));
  assert.equal(await authenticateOnce(probeDev, 'alice', USERS.alice), 'unauthorized');

  // Stopping one leaves the other running.
  await dev.stop();
  assert.equal((await within(a1.closed, 5000, 'close on stop')).code, 1001);
  b1.sendJson({ event: 'still', data: 'here' });
  assert.deepEqual((await b2.next(5000)).json, { event: 'still', data: 'here', from: b1.peerId });
  assert.equal(strict.peers('shared').length, 2);
});

test("attach mounts /websocket/:room on the user's http server, before it listens; the user's routes and upgrades keep working", async (t) => {
  const server = createHttpServer();
  const mine = userApp(server);
  const requestListeners = server.listenerCount('request');
  const upgradeListeners = server.listenerCount('upgrade');
  let closed = false;
  t.after(() => (closed ? undefined : closeServer(server, mine)));

  const handle = await attach(server, { ...BASE, auth: { users: USERS } });
  let stopped = false;
  t.after(() => (stopped ? undefined : handle.stop()));
  const port = await listen(server);
  assert.deepEqual(handle.signalingAddress(), { host: '127.0.0.1', port });

  assert.deepEqual(await fetchText(`http://127.0.0.1:${port}/hello`), { status: 200, body: 'hello from the user app' });
  assert.deepEqual(await fetchText(`http://127.0.0.1:${port}/other`), { status: 404, body: 'user app: not found' });
  await assertUserSocket(t, `ws://127.0.0.1:${port}/mine`);

  const alice = await joinAs(t, wsUrl(port, 'room'), 'alice', USERS.alice);
  const bob = await joinAs(t, wsUrl(port, 'room'), 'bob', USERS.bob);
  assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });
  bob.sendJson({ event: 'offer', to: alice.peerId, data: { sdp: 'v=0' } });
  assert.deepEqual((await alice.next(5000)).json, { event: 'offer', to: alice.peerId, data: { sdp: 'v=0' }, from: bob.peerId });
  assert.deepEqual(handle.peers('room'), [
    { peerId: alice.peerId, username: 'alice' },
    { peerId: bob.peerId, username: 'bob' },
  ]);

  // handleHttp() answers our HTTP endpoints from the user's own request handler.
  const metrics = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const probe = createHttpServer((req, res) => {
      if (!handle.handleHttp(req, res)) {
        res.writeHead(404);
        res.end('user app: not found');
      }
    });
    probe.listen(0, '127.0.0.1', () => {
      const probePort = (probe.address() as { port: number }).port;
      Promise.all([fetchText(`http://127.0.0.1:${probePort}/metrics`), fetchText(`http://127.0.0.1:${probePort}/nope`)])
        .then(([m, other]) => {
          assert.equal(other.status, 404);
          probe.close();
          resolve(m);
        }, reject);
    });
  });
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^webrtc_room_members 2$/m);

  // stop() detaches: our sockets close with 1001, the user's server keeps serving.
  await handle.stop();
  stopped = true;
  assert.equal((await within(alice.closed, 5000, 'alice closed')).code, 1001);
  assert.equal((await within(bob.closed, 5000, 'bob closed')).code, 1001);
  assert.equal(server.listening, true, "the user's server is not closed");
  assert.equal(server.listenerCount('request'), requestListeners, 'no request listener of ours is left');
  assert.equal(server.listenerCount('upgrade'), upgradeListeners, 'no upgrade listener of ours is left');
  assert.deepEqual(await fetchText(`http://127.0.0.1:${port}/hello`), { status: 200, body: 'hello from the user app' });
  await assertUserSocket(t, `ws://127.0.0.1:${port}/mine`);

  await closeServer(server, mine);
  closed = true;
});

test('attach works on an https server that already listens (wss://)', async (t) => {
  const { certfile, keyfile } = makeCert(tempDir(t));
  const server = createHttpsServer({ cert: readFileSync(certfile), key: readFileSync(keyfile) });
  const mine = userApp(server);
  const port = await listen(server);
  let closed = false;
  t.after(() => (closed ? undefined : closeServer(server, mine)));

  const handle = await attach(server, { ...BASE, auth: { users: USERS } });
  let stopped = false;
  t.after(() => (stopped ? undefined : handle.stop()));
  assert.deepEqual(handle.signalingAddress(), { host: '127.0.0.1', port });

  const tls = { rejectUnauthorized: false };
  assert.deepEqual(await fetchText(`https://127.0.0.1:${port}/hello`), { status: 200, body: 'hello from the user app' });
  await assertUserSocket(t, `wss://127.0.0.1:${port}/mine`, tls);
  const alice = await joinAs(t, wsUrl(port, 'secure', 'wss'), 'alice', USERS.alice, tls);
  const bob = await joinAs(t, wsUrl(port, 'secure', 'wss'), 'bob', USERS.bob, tls);
  assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });

  await handle.stop();
  stopped = true;
  assert.equal((await within(alice.closed, 5000, 'alice closed')).code, 1001);
  assert.equal(server.listening, true);
  assert.deepEqual(await fetchText(`https://127.0.0.1:${port}/hello`), { status: 200, body: 'hello from the user app' });
  await closeServer(server, mine);
  closed = true;
});

test("rootSupervisorSpec runs our tree as a child of the user's own Supervisor", async (t) => {
  const spec = await rootSupervisorSpec({ ...BASE, auth: { users: USERS } });
  const events: string[] = [];
  const userWorker: Worker = {
    stop: async () => void events.push('user worker stopped'),
    onExit: () => {},
  };
  const supervisor = new Supervisor(
    'user_sup',
    { strategy: 'one_for_one', intensity: 1, period: 5000 },
    [spec, { id: 'user_worker', type: 'worker', restart: 'permanent', shutdown: 1000, start: () => userWorker }],
    pino({ level: 'silent' }),
  );
  await supervisor.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : supervisor.stop()));

  const address = spec.server.signalingAddress();
  assert.ok(address, 'the embedded tree listens');
  assert.equal(address.host, '127.0.0.1');
  const alice = await joinAs(t, wsUrl(address.port, 'embedded'), 'alice', USERS.alice);
  assert.deepEqual(spec.server.peers('embedded'), [{ peerId: alice.peerId, username: 'alice' }]);
  assert.deepEqual(spec.server.peers('unknown-room'), []);
  assert.equal(spec.server.publish('embedded', 'hi'), 1);
  assert.deepEqual((await alice.next(5000)).json, { event: 'hi' });
  assert.equal(spec.server.send(alice.peerId!, 'direct', [1]), true);
  assert.deepEqual((await alice.next(5000)).json, { event: 'direct', data: [1] });

  await supervisor.stop();
  stopped = true;
  assert.equal((await within(alice.closed, 5000, 'close on supervisor stop')).code, 1001);
  assert.deepEqual(events, ['user worker stopped']);
  assert.deepEqual(spec.server.peers('embedded'), []);
});

test("the package imports by its own name ('webrtc-server') from compiled dist, with type declarations", async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'webrtc-server');
  const specifier: string = pkg.name;
  const resolved = import.meta.resolve(specifier);
  assert.ok(resolved.endsWith('/dist/src/index.js'), resolved);
  const mod = await import(specifier);
  for (const name of ['startServer', 'attach', 'rootSupervisorSpec', 'Supervisor']) {
    assert.equal(typeof mod[name], 'function', `exports ${name}`);
  }
  const declarations = join(ROOT, 'dist/src/index.d.ts');
  assert.ok(existsSync(declarations), `${declarations} exists`);
  const text = readFileSync(declarations, 'utf8');
  assert.match(text, /startServer/);
  assert.match(text, /attach/);

  // The compiled package runs a server.
  const server: ServerHandle = await mod.startServer({ ...BASE, auth: { users: USERS } });
  t.after(() => server.stop());
  const alice = await joinAs(t, wsUrl(server.signalingAddress()!.port, 'pkg'), 'alice', USERS.alice);
  assert.deepEqual(server.peers('pkg'), [{ peerId: alice.peerId, username: 'alice' }]);
});
