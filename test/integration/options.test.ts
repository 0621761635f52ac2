/**
 * Every option of docs/configuration.md that signaling implements, observed through
 * behaviour on a real server (`startServer`, 127.0.0.1, port 0). The TURN
 * rows, `adminToken` and `inspect` belong to other work: here they are only
 * checked to be accepted when valid and refused, by name, when not.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, startServer } from '../../src/index.js';
import type { Options, ServerHandle } from '../../src/index.js';
import { WebSocket } from 'ws';
import { TestClient } from '../helpers/client.js';
import { within } from '../helpers/protocol.js';
import { sleep } from '../helpers/server.js';
import {
  authenticateOnce, failedAuthsUntilClose, freePort, joinUrl, makeCert, tempDir,
} from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const BASE: Options = { host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent' };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };

interface Started {
  server: ServerHandle;
  port: number;
  url(room: string): string;
}

async function start(t: TestContext, options: Options): Promise<Started> {
  const server = await startServer({ ...BASE, ...options });
  t.after(() => server.stop());
  const address = server.signalingAddress();
  assert.ok(address, 'a started server has an address');
  const scheme = options.certfile ? 'wss' : 'ws';
  return {
    server,
    port: address.port,
    url: (room) => `${scheme}://127.0.0.1:${address.port}/websocket/${encodeURIComponent(room)}`,
  };
}

async function open(t: TestContext, url: string): Promise<TestClient> {
  const c = new TestClient(url);
  t.after(() => c.close());
  await within(c.opened, 5000, `open ${url}`);
  return c;
}

async function joinAs(t: TestContext, url: string, username: string, password: string): Promise<TestClient> {
  const c = await joinUrl(url, username, password);
  t.after(() => c.close());
  return c;
}

/**
 * Asserts `run` throws or rejects with an error whose message names `option`
 * in quotes: `"option"`, or a path inside it such as `"rateLimit.burst"`.
 */
async function rejectsNaming(run: () => unknown, option: string): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await run();
  } catch (err) {
    assert.ok(err instanceof Error, String(err));
    assert.match(err.message, new RegExp(`"${option}(\\.[^"]+)?"`), `error names "${option}"`);
    return;
  }
  // It started: stop it before failing, so nothing is left listening.
  if (outcome && typeof (outcome as ServerHandle).stop === 'function') await (outcome as ServerHandle).stop();
  assert.fail(`expected a refusal naming "${option}"`);
}

/** `ping` answered by `pong`: the socket is open and served. */
async function assertServed(c: TestClient): Promise<void> {
  assert.equal(c.ws.readyState, c.ws.OPEN, 'still open');
  c.send('ping');
  assert.equal((await c.next(5000)).text, 'pong');
}

const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

test('host: the listener binds the given loopback address; dev mode defaults to 127.0.0.1', async (t) => {
  const withAuth = await start(t, { host: '127.0.0.1', auth: { users: USERS } });
  assert.equal(withAuth.server.signalingAddress()!.host, '127.0.0.1');
  await joinAs(t, withAuth.url('h'), 'alice', USERS.alice);

  const { host: _host, ...noHost } = BASE;
  const dev = await startServer(noHost);
  t.after(() => dev.stop());
  assert.equal(dev.signalingAddress()!.host, '127.0.0.1');
  await joinAs(t, `ws://127.0.0.1:${dev.signalingAddress()!.port}/websocket/h`, 'alice', 'demo');
});

test('host: a non-loopback host without auth is refused, naming "host"', async () => {
  await rejectsNaming(() => startServer({ ...BASE, host: '0.0.0.0' }), 'host');
  await rejectsNaming(() => startServer({ ...BASE, host: '192.0.2.10' }), 'host');
  await rejectsNaming(() => parseOptions({ host: '' }), 'host');
  await rejectsNaming(() => parseOptions({ host: 42 }), 'host');
});

test('port: 0 picks a free port, a given port is used, a busy one fails to start, bad values are refused', async (t) => {
  const a = await start(t, { auth: { users: USERS } });
  const b = await start(t, { auth: { users: USERS } });
  assert.ok(a.port > 0 && b.port > 0);
  assert.notEqual(a.port, b.port);

  const wanted = await freePort();
  const c = await start(t, { port: wanted, auth: { users: USERS } });
  assert.equal(c.port, wanted);
  await joinAs(t, c.url('p'), 'bob', USERS.bob);

  await assert.rejects(async () => {
    const clash = await startServer({ ...BASE, port: wanted, auth: { users: USERS } });
    await clash.stop();
  }, 'a port in use cannot be listened on');
  // The first server on that port is unharmed.
  await joinAs(t, c.url('p'), 'carol', USERS.carol);

  for (const bad of [-1, 65536, 1.5, '80', null]) {
    await rejectsNaming(() => startServer({ ...BASE, port: bad as never }), 'port');
  }
});

test('certfile/keyfile: the embedding API serves wss://', async (t) => {
  const { certfile, keyfile } = makeCert(tempDir(t));
  const s = await start(t, { certfile, keyfile, auth: { users: USERS } });
  assert.ok(s.url('x').startsWith('wss://'));
  const alice = await joinUrl(s.url('tls'), 'alice', USERS.alice, { rejectUnauthorized: false });
  t.after(() => alice.close());
  const bob = await joinUrl(s.url('tls'), 'bob', USERS.bob, { rejectUnauthorized: false });
  t.after(() => bob.close());
  assert.deepEqual((await alice.next(5000)).json, { event: 'joined', data: { peer_id: bob.peerId, username: 'bob' } });

  const plain = new TestClient(`ws://127.0.0.1:${s.port}/websocket/tls`);
  t.after(() => plain.ws.terminate());
  await assert.rejects(within(plain.opened, 5000, 'plain ws on a TLS port'), 'plain ws:// is not served on a TLS listener');

  await rejectsNaming(() => parseOptions({ certfile }), 'keyfile');
  await rejectsNaming(() => parseOptions({ keyfile }), 'certfile');
  await assert.rejects(async () => {
    const s2 = await startServer({ ...BASE, certfile: join(tempDir(t), 'missing.pem'), keyfile, auth: { users: USERS } });
    await s2.stop();
  }, 'a missing certificate file fails the start');
});

test('idleTimeout (number): a socket with no data for that long is closed with 1000; any frame resets it', async (t) => {
  const s = await start(t, { idleTimeout: 300, auth: { users: USERS } });
  const alice = await joinAs(t, s.url('idle'), 'alice', USERS.alice);
  const close = await within(alice.closed, 5000, 'idle close');
  assert.equal(close.code, 1000);

  const busy = await start(t, { idleTimeout: 1000, auth: { users: USERS } });
  const bob = await joinAs(t, busy.url('idle'), 'bob', USERS.bob);
  // Frames every 100 ms for 2.5 idle periods: the socket must stay open.
  for (let i = 0; i < 25; i++) {
    await sleep(100);
    await assertServed(bob);
  }
  const quiet = await within(bob.closed, 5000, 'idle close once quiet');
  assert.equal(quiet.code, 1000);
});

test('idleTimeout "infinity": the socket stays open', async (t) => {
  assert.equal(parseOptions({ idleTimeout: 'infinity' }).idleTimeout, Infinity);
  const s = await start(t, { idleTimeout: 'infinity', auth: { users: USERS } });
  const alice = await joinAs(t, s.url('inf'), 'alice', USERS.alice);
  const unauthenticated = await open(t, s.url('inf'));
  await sleep(500);
  await assertServed(alice);
  await assertServed(unauthenticated);
  for (const bad of [0, -5, 'forever', 1.5, Infinity]) {
    await rejectsNaming(() => parseOptions({ idleTimeout: bad }), 'idleTimeout');
  }
});

test('authTimeout: an unauthenticated socket is closed with 1000 after it; an authenticated one is not', async (t) => {
  const s = await start(t, { authTimeout: 250, auth: { users: USERS } });
  const alice = await joinAs(t, s.url('auth'), 'alice', USERS.alice);
  const idle = await open(t, s.url('auth'));
  const close = await within(idle.closed, 5000, 'auth timeout close');
  assert.equal(close.code, 1000);
  await sleep(300);
  await assertServed(alice);
  for (const bad of [0, -1, 'soon', 2.5]) {
    await rejectsNaming(() => parseOptions({ authTimeout: bad }), 'authTimeout');
  }
});

test('auth as a function (sync and async): its return value is the password', async (t) => {
  const sync = await start(t, {
    auth: (u: string) => {
      if (u === 'thrower') throw new Error('lookup failed');
      if (u === 'number') return 42;
      return u === 'alice' ? 'a1' : undefined;
    },
  });
  await joinAs(t, sync.url('f'), 'alice', 'a1');
  const c = await open(t, sync.url('f'));
  assert.equal(await authenticateOnce(c, 'alice', 'a1 '), 'unauthorized');
  assert.equal(await authenticateOnce(c, 'ghost', 'anything'), 'unauthorized');
  assert.equal(await authenticateOnce(c, 'thrower', 'x'), 'unauthorized', 'a throwing auth is a refusal');
  assert.equal(await authenticateOnce(c, 'number', '42'), 'unauthorized', 'a non-string password is a refusal');
  await assertServed(c);

  const asyncAuth = await start(t, {
    auth: async (u: string) => {
      await sleep(10);
      if (u === 'rejecter') throw new Error('lookup failed');
      return u === 'bob' ? 'b1' : undefined;
    },
  });
  await joinAs(t, asyncAuth.url('f'), 'bob', 'b1');
  const d = await open(t, asyncAuth.url('f'));
  assert.equal(await authenticateOnce(d, 'bob', 'b2'), 'unauthorized');
  assert.equal(await authenticateOnce(d, 'rejecter', 'x'), 'unauthorized', 'a rejecting auth is a refusal');
  assert.equal(await authenticateOnce(d, 'bob', 'b1'), 'authenticated');
});

test('auth {users}: a static map; the demo users are not accepted', async (t) => {
  const s = await start(t, { auth: { users: { carol: 'c1' } } });
  await joinAs(t, s.url('u'), 'carol', 'c1');
  const c = await open(t, s.url('u'));
  assert.equal(await authenticateOnce(c, 'alice', 'demo'), 'unauthorized');
  assert.equal(await authenticateOnce(c, 'carol', 'c2'), 'unauthorized');
  assert.equal(await authenticateOnce(c, 'constructor', 'function Object() { [native code] }'), 'unauthorized');
  assert.equal(await authenticateOnce(c, '__proto__', '[object Object]'), 'unauthorized');
});

test('auth {module, export}: the named export of a module', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'auth.mjs');
  writeFileSync(
    file,
    "export async function passwordFor(u) { return u === 'dana' ? 'd1' : undefined; }\n" +
      "export default function () { return 'from-default'; }\n" +
      "export const notAFunction = 'x';\n",
  );
  const s = await start(t, { auth: { module: file, export: 'passwordFor' } });
  await joinAs(t, s.url('m'), 'dana', 'd1');
  const c = await open(t, s.url('m'));
  assert.equal(await authenticateOnce(c, 'dana', 'from-default'), 'unauthorized', 'the named export is used');
  assert.equal(await authenticateOnce(c, 'dana', 'd2'), 'unauthorized');

  await rejectsNaming(() => startServer({ ...BASE, auth: { module: file, export: 'missing' } }), 'auth');
  await rejectsNaming(() => startServer({ ...BASE, auth: { module: file, export: 'notAFunction' } }), 'auth');
  await rejectsNaming(() => startServer({ ...BASE, auth: { module: join(dir, 'nope.mjs'), export: 'passwordFor' } }), 'auth');
});

test('auth {secret}: TURN REST credentials, refused once expired; the room knows the peer by <user>', async (t) => {
  const secret = 'shared-secret';
  const calls: unknown[] = [];
  const record = (kind: string) => (room: string, username: string, others: string[]) => void calls.push([kind, room, username, others]);
  const s = await start(t, { auth: { secret }, callbacks: { create: record('create'), join: record('join'), leave: record('leave') } });
  const later = Math.floor(Date.now() / 1000) + 3600;

  const eveName = `${later}:eve`;
  const eve = await joinAs(t, s.url('rest'), eveName, hmac(secret, eveName));

  const doraName = `${later}:dora`;
  const dora = await open(t, s.url('rest'));
  dora.sendJson({ event: 'authenticate', data: { username: doraName, password: hmac(secret, doraName) } });
  const authenticated = await dora.next(5000);
  assert.equal(authenticated.json?.event, 'authenticated', authenticated.text);
  dora.peerId = authenticated.json.data.peer_id;
  assert.deepEqual(authenticated.json.data.peers, [{ peer_id: eve.peerId, username: 'eve' }]);
  assert.deepEqual((await eve.next(5000)).json, { event: 'joined', data: { peer_id: dora.peerId, username: 'dora' } });
  assert.deepEqual(s.server.peers('rest'), [
    { peerId: eve.peerId, username: 'eve' },
    { peerId: dora.peerId, username: 'dora' },
  ]);

  const c = await open(t, s.url('rest'));
  const expired = `${Math.floor(Date.now() / 1000) - 60}:dora`;
  assert.equal(await authenticateOnce(c, expired, hmac(secret, expired)), 'unauthorized', 'expired');
  assert.equal(await authenticateOnce(c, doraName, hmac('other-secret', doraName)), 'unauthorized', 'wrong secret');
  assert.equal(await authenticateOnce(c, 'dora', hmac(secret, 'dora')), 'unauthorized', 'no expiry');

  dora.close();
  assert.deepEqual((await eve.next(5000)).json, { event: 'left', data: { username: 'dora', peer_id: dora.peerId } });
  await waitFor(() => calls.length >= 4, 5000, 'the leave callback');
  assert.deepEqual(calls, [
    ['create', 'rest', 'eve', []],
    ['join', 'rest', 'eve', []],
    ['join', 'rest', 'dora', ['eve']],
    ['leave', 'rest', 'dora', ['eve']],
  ]);
  await rejectsNaming(() => parseOptions({ auth: { secret: '' } }), 'auth');
});

test('auth: malformed values are refused naming "auth"', async () => {
  for (const bad of ['alice:pw', 42, { users: { alice: 1 } }, { users: {}, extra: true }, { module: '' }, { secret: 1 }, {}]) {
    await rejectsNaming(() => parseOptions({ auth: bad }), 'auth');
  }
});

test('callbacks as functions: create, join, leave with (room, username, others); errors never affect the room', async (t) => {
  const calls: unknown[] = [];
  const s = await start(t, {
    auth: { users: USERS },
    callbacks: {
      create: (room, username, others) => void calls.push(['create', room, username, others]),
      join: async (room, username, others) => {
        await sleep(5);
        calls.push(['join', room, username, others]);
      },
      leave: (room, username, others) => void calls.push(['leave', room, username, others]),
    },
  });
  // The worked example of docs/protocol.md.
  const u1 = await joinAs(t, s.url('w'), 'alice', USERS.alice);
  const u2 = await joinAs(t, s.url('w'), 'bob', USERS.bob);
  assert.equal((await u1.next(5000)).json?.event, 'joined');
  u1.close();
  assert.equal((await u2.next(5000)).json?.event, 'left');
  await waitFor(() => calls.length >= 4, 5000, 'four callbacks');
  u2.close();
  await waitFor(() => calls.length >= 5, 5000, 'five callbacks');
  // The room emptied: its next first member creates it again.
  await joinAs(t, s.url('w'), 'carol', USERS.carol);
  await waitFor(() => calls.length >= 7, 5000, 'seven callbacks');
  assert.deepEqual(calls, [
    ['create', 'w', 'alice', []],
    ['join', 'w', 'alice', []],
    ['join', 'w', 'bob', ['alice']],
    ['leave', 'w', 'alice', ['bob']],
    ['leave', 'w', 'bob', []],
    ['create', 'w', 'carol', []],
    ['join', 'w', 'carol', []],
  ]);

  const failing = await start(t, {
    auth: { users: USERS },
    callbacks: {
      create: () => {
        throw new Error('create failed');
      },
      join: () => Promise.reject(new Error('join failed')),
      leave: () => {
        throw new Error('leave failed');
      },
    },
  });
  const a = await joinAs(t, failing.url('x'), 'alice', USERS.alice);
  const b = await joinAs(t, failing.url('x'), 'bob', USERS.bob);
  assert.deepEqual((await a.next(5000)).json, { event: 'joined', data: { peer_id: b.peerId, username: 'bob' } });
  b.sendJson({ event: 'hello', data: 1 });
  assert.deepEqual((await a.next(5000)).json, { event: 'hello', data: 1, from: b.peerId });
  b.close();
  assert.deepEqual((await a.next(5000)).json, { event: 'left', data: { username: 'bob', peer_id: b.peerId } });
  await assertServed(a);
  assert.deepEqual(failing.server.peers('x'), [{ peerId: a.peerId, username: 'alice' }]);

  for (const bad of [{ create: 'x' }, { join: 1 }, { module: '' }, { nope: () => {} }, 'hooks.mjs']) {
    await rejectsNaming(() => parseOptions({ callbacks: bad }), 'callbacks');
  }
});

test('callbacks {module}: a module exporting create, join, leave', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'hooks.mjs');
  const log = join(dir, 'calls.log');
  writeFileSync(
    file,
    [
      "import { appendFileSync } from 'node:fs';",
      `const log = ${JSON.stringify(log)};`,
      'const record = (kind) => (room, username, others) => appendFileSync(log, JSON.stringify([kind, room, username, others]) + "\\n");',
      "export const create = record('create');",
      "export const join = record('join');",
      "export const leave = record('leave');",
      '',
    ].join('\n'),
  );
  const read = () => {
    try {
      return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  };
  const s = await start(t, { auth: { users: USERS }, callbacks: { module: file } });
  const a = await joinAs(t, s.url('mod'), 'alice', USERS.alice);
  await joinAs(t, s.url('mod'), 'bob', USERS.bob);
  assert.equal((await a.next(5000)).json?.event, 'joined');
  a.close();
  await waitFor(() => read().length >= 4, 5000, 'four callbacks');
  assert.deepEqual(read(), [
    ['create', 'mod', 'alice', []],
    ['join', 'mod', 'alice', []],
    ['join', 'mod', 'bob', ['alice']],
    ['leave', 'mod', 'alice', ['bob']],
  ]);
  await rejectsNaming(() => startServer({ ...BASE, auth: { users: USERS }, callbacks: { module: join(dir, 'missing.mjs') } }), 'callbacks');
});

test('maxMessageBytes: a frame of exactly that size passes, one byte more closes 1009 (in any state)', async (t) => {
  const s = await start(t, { maxMessageBytes: 1024, auth: { users: USERS } });
  const alice = await joinAs(t, s.url('big'), 'alice', USERS.alice);
  const bob = await joinAs(t, s.url('big'), 'bob', USERS.bob);
  assert.equal((await alice.next(5000)).json?.event, 'joined');
  const frameOf = (size: number) => {
    const skeleton = JSON.stringify({ event: 'blob', data: '' });
    return JSON.stringify({ event: 'blob', data: 'x'.repeat(size - skeleton.length) });
  };
  const exact = frameOf(1024);
  assert.equal(Buffer.byteLength(exact), 1024);
  alice.send(exact);
  const got = await bob.next(5000);
  assert.equal(got.json?.event, 'blob');
  assert.equal(got.json?.data.length, 1024 - JSON.stringify({ event: 'blob', data: '' }).length);
  assert.equal(got.json?.from, alice.peerId);

  alice.send(frameOf(1025));
  assert.equal((await within(alice.closed, 5000, 'close 1009')).code, 1009);
  assert.deepEqual((await bob.next(5000)).json, { event: 'left', data: { username: 'alice', peer_id: alice.peerId } });

  const stranger = await open(t, s.url('big'));
  stranger.send('x'.repeat(2000));
  assert.equal((await within(stranger.closed, 5000, 'close 1009 before auth')).code, 1009);

  for (const bad of [0, -1, 'big', 1.5]) {
    await rejectsNaming(() => parseOptions({ maxMessageBytes: bad }), 'maxMessageBytes');
  }
});

test('maxAuthAttempts: the last failure gets unauthorized, then close 1008; default 5', async (t) => {
  const s = await start(t, { maxAuthAttempts: 2, auth: { users: USERS } });
  assert.deepEqual(await failedAuthsUntilClose(await open(t, s.url('a'))), { unauthorized: 2, code: 1008 });
  const one = await start(t, { maxAuthAttempts: 1, auth: { users: USERS } });
  assert.deepEqual(await failedAuthsUntilClose(await open(t, one.url('a'))), { unauthorized: 1, code: 1008 });
  const byDefault = await start(t, { auth: { users: USERS } });
  assert.deepEqual(await failedAuthsUntilClose(await open(t, byDefault.url('a'))), { unauthorized: 5, code: 1008 });

  // Failures below the limit leave the socket usable: the right password still works.
  const retry = await open(t, s.url('a'));
  assert.equal(await authenticateOnce(retry, 'alice', 'wrong'), 'unauthorized');
  assert.equal(await authenticateOnce(retry, 'alice', USERS.alice), 'authenticated');

  for (const bad of [0, -1, 'five', 2.5]) {
    await rejectsNaming(() => parseOptions({ maxAuthAttempts: bad }), 'maxAuthAttempts');
  }
});

test('rateLimit: every frame counts (ping included); over the burst reading pauses; closed 1008 only after abuseSeconds over it', async (t) => {
  const s = await start(t, { rateLimit: { perSecond: 0.5, burst: 5, abuseSeconds: 1 }, auth: { users: USERS } });
  const c = await open(t, s.url('rl'));
  const texts: string[] = [];
  c.ws.on('message', (data) => texts.push(data.toString()));
  for (let i = 0; i < 10; i++) c.send('ping');
  await sleep(300);
  assert.equal(texts.length, 10, 'frames read in one go are all answered, none lost');
  c.send('ping'); // waits: the budget is 5 frames in debt at 0.5/s
  await sleep(500);
  assert.equal(texts.length, 10, 'reading is paused');
  for (let i = 0; i < 50 && c.ws.readyState === WebSocket.OPEN; i++) {
    c.send('ping');
    await sleep(100);
  }
  const close = await within(c.closed, 15_000, 'close 1008');
  assert.equal(close.code, 1008);
  assert.ok(texts.every((text) => text === 'pong'));

  const roomy = await start(t, { rateLimit: { perSecond: 1000, burst: 50 }, auth: { users: USERS } });
  const d = await open(t, roomy.url('rl'));
  for (let i = 0; i < 20; i++) d.send('ping');
  for (let i = 0; i < 20; i++) assert.equal((await d.next(5000)).text, 'pong');
  await assertServed(d);

  for (const bad of [{ perSecond: 0, burst: 1 }, { perSecond: 1 }, { perSecond: 1, burst: 0 }, { perSecond: 1, burst: 1, extra: 1 }, { perSecond: 1, burst: 1, abuseSeconds: -1 }, 'fast', 50]) {
    await rejectsNaming(() => parseOptions({ rateLimit: bad }), 'rateLimit');
  }
});

test('logLevel: every pino level is accepted, anything else refused', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) {
    assert.equal(parseOptions({ logLevel: level }).logLevel, level);
  }
  assert.equal(parseOptions({}).logLevel, 'info');
  for (const bad of ['loud', 'INFO', 3, '']) {
    await rejectsNaming(() => parseOptions({ logLevel: bad }), 'logLevel');
  }
  // A silent server still works.
  const s = await start(t, { logLevel: 'silent', auth: { users: USERS } });
  await joinAs(t, s.url('l'), 'alice', USERS.alice);
});

test('an unknown option is refused naming it', async () => {
  await rejectsNaming(() => startServer({ ...BASE, idleTimout: 5 } as Options), 'idleTimout');
  await rejectsNaming(() => parseOptions({ colour: 'red' }), 'colour');
});

/** Options owned by other work: accepted when valid, refused by name when not. */
const VALIDATION_ONLY: Record<string, { valid: unknown[]; invalid: unknown[] }> = {
  hostname: { valid: ['turn.example.org', 'localhost'], invalid: ['', 42] },
  turnIp: { valid: ['203.0.113.5', '127.0.0.1'], invalid: ['not-an-ip', 12, ''] },
  turnPort: { valid: [0, 3478, 65535, false], invalid: [-1, 65536, 'x', true, 1.5] },
  relayPorts: { valid: [[49152, 65535], [50000, 50000]], invalid: [[5000, 4000], 'x', [1], [1, 2, 3], [1, 70000]] },
  allowLoopbackPeers: { valid: [true, false], invalid: ['yes', 1] },
  turnLifetime: { valid: [1, 600, 3600], invalid: [0, 3601, 'x', 1.5] },
  adminToken: { valid: ['a-long-admin-token-0123456789'], invalid: [42, true] },
  inspect: { valid: [true, false, 5678, 9000], invalid: ['x', -1, 65536, 1.5] },
};

for (const [option, { valid, invalid }] of Object.entries(VALIDATION_ONLY)) {
  test(`${option}: valid values are accepted, invalid ones refused naming it`, async () => {
    for (const value of valid) {
      assert.doesNotThrow(() => parseOptions({ [option]: value }), `${option}: ${JSON.stringify(value)} is valid`);
    }
    for (const value of invalid) {
      await rejectsNaming(() => parseOptions({ [option]: value }), option);
    }
  });
}
