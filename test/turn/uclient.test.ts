/**
 * coturn's own test client, turnutils_uclient (Debian package `coturn`),
 * against our backend: two clients relay to each other's relayed address
 * (-y), over ChannelBind + ChannelData (default) and over Send/Data
 * indications (-s), with Refresh, REST credentials (-W), a wrong password,
 * and the default peer policy refusing loopback relays with 403. The same
 * over TCP (-t) and TLS (-t -S), where the clients relay to a UDP echo peer
 * (-e/-r): with -y the two clients race each other's CreatePermission, and
 * over TLS coturn itself then loses a few packets. And uclient's default
 * RTP/RTCP pairs (EVEN-PORT, RESERVATION-TOKEN) against the whole server
 * with two relay threads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinUrl, makeCert } from '../helpers/fixtures.js';
import { startServer } from '../../src/index.js';
import { createAuthenticator } from '../../src/auth/authenticator.js';
import type { NodeTurnBackend } from '../../src/turn/node-turn-backend.js';
import { CountingEvents, startBackend } from './helpers.js';
import type { BackendOptions } from './helpers.js';

const UCLIENT = 'turnutils_uclient';
const installed = spawnSync(UCLIENT, [], { stdio: 'ignore' }).error === undefined;

/** Runs turnutils_uclient; resolves with its exit code and output (killed after 60 s). */
function uclient(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(UCLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** The final "tot_send_msgs=N, tot_recv_msgs=M" of a run. */
function totals(out: string): { sent: number; received: number } {
  const all = [...out.matchAll(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)];
  const last = all.at(-1);
  assert.ok(last, `no totals in uclient output:\n${out}`);
  return { sent: Number(last[1]), received: Number(last[2]) };
}

async function withBackend(o: BackendOptions, run: (port: number) => Promise<void>): Promise<void> {
  const { backend, server } = await startBackend(o);
  try {
    await run(server.port);
  } finally {
    await backend.stop();
  }
}

test(`${UCLIENT} is installed (.ci/run installs Debian's coturn)`, () => {
  assert.ok(installed, `${UCLIENT} not found: apt-get install coturn`);
});

describe('turnutils_uclient (coturn)', { skip: !installed }, () => {
  test('ChannelBind + ChannelData relay to relay, with refreshes: nothing lost', async () => {
    await withBackend({}, async (port) => {
      const { code, out } = await uclient(['-v', '-y', '-n', '20', '-l', '200', '-u', 'alice', '-w', 'alice-pw', '-p', String(port), '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(out, /channel bind sent/);
      assert.match(out, /refresh response received/);
      assert.doesNotMatch(out, /error \d{3}/);
      const { sent, received } = totals(out);
      assert.ok(sent > 0);
      assert.equal(received, sent);
      assert.match(out, /Total lost packets 0 /);
    });
  });

  test('Send and Data indications (-s): nothing lost', async () => {
    await withBackend({}, async (port) => {
      const { code, out } = await uclient(['-v', '-s', '-y', '-n', '20', '-u', 'alice', '-w', 'alice-pw', '-p', String(port), '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(out, /create perm sent/);
      assert.doesNotMatch(out, /channel bind sent/);
      const { sent, received } = totals(out);
      assert.ok(sent > 0);
      assert.equal(received, sent);
    });
  });

  test('TURN REST credentials (-W shared secret)', async () => {
    const authenticator = await createAuthenticator({ secret: 'rest-secret' }, { baseDir: process.cwd() });
    await withBackend({ authenticator }, async (port) => {
      const { code, out } = await uclient(['-y', '-n', '10', '-u', 'erin', '-W', 'rest-secret', '-p', String(port), '127.0.0.1']);
      assert.equal(code, 0, out);
      const { sent, received } = totals(out);
      assert.equal(received, sent);
    });
  });

  test('a wrong password cannot allocate', async () => {
    await withBackend({}, async (port) => {
      const { code, out } = await uclient(['-y', '-n', '5', '-u', 'alice', '-w', 'wrong', '-p', String(port), '127.0.0.1']);
      assert.notEqual(code, 0);
      assert.match(out, /Cannot complete Allocation/);
    });
  });

  test('default peer policy: relaying to loopback relays is refused with 403', async () => {
    await withBackend({ peers: {} }, async (port) => {
      const { code, out } = await uclient(['-y', '-n', '5', '-u', 'alice', '-w', 'alice-pw', '-p', String(port), '127.0.0.1']);
      assert.notEqual(code, 0);
      assert.match(out, /error 403 \(Forbidden\)/);
    });
  });
});

/** A UDP echo peer on 127.0.0.1 (what coturn's turnutils_peer does). */
async function echoPeer(): Promise<{ port: number; close(): void }> {
  const socket = createSocket('udp4');
  socket.on('message', (data, from) => socket.send(data, from.port, from.address));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return { port: socket.address().port, close: () => socket.close() };
}

describe('turnutils_uclient (coturn) over TCP (-t) and TLS (-t -S)', { skip: !installed }, () => {
  let certDir = '';
  let tls: { cert: Buffer; key: Buffer } | undefined;
  const cert = (): { cert: Buffer; key: Buffer } => {
    if (!tls) {
      certDir = mkdtempSync(join(tmpdir(), 'uclient-tls-'));
      const files = makeCert(certDir);
      tls = { cert: readFileSync(files.certfile), key: readFileSync(files.keyfile) };
    }
    return tls;
  };
  test.after(() => certDir && rmSync(certDir, { recursive: true, force: true }));

  async function withStreams(o: BackendOptions, run: (ports: { tcp: number; tls: number }, backend: NodeTurnBackend) => Promise<void>): Promise<void> {
    const { backend } = await startBackend({ tcp: true, tls: cert(), ...o });
    try {
      const a = backend.addresses()!;
      await run({ tcp: a.tcp!.port, tls: a.tls!.port }, backend);
    } finally {
      await backend.stop();
    }
  }

  for (const [name, flags, port] of [['TCP', ['-t'], 'tcp'], ['TLS', ['-t', '-S'], 'tls']] as const) {
    for (const [mode, extra] of [['ChannelBind + ChannelData', []], ['Send and Data indications (-s)', ['-s']]] as const) {
      test(`${name}: ${mode} to an echo peer, with refreshes: nothing lost`, async () => {
        const peer = await echoPeer();
        try {
          await withStreams({}, async (ports) => {
            const { code, out } = await uclient([
              '-v', ...flags, ...extra, '-c', '-e', '127.0.0.1', '-r', String(peer.port), '-m', '2', '-n', '20', '-l', '200',
              '-u', 'alice', '-w', 'alice-pw', '-p', String(ports[port]), '127.0.0.1',
            ]);
            assert.equal(code, 0, out);
            assert.match(out, extra.length ? /create perm sent/ : /channel bind sent/);
            assert.match(out, /refresh response received/);
            assert.doesNotMatch(out, /error \d{3}/);
            const { sent, received } = totals(out);
            assert.ok(sent >= 40, `sent ${sent}`);
            assert.equal(received, sent);
            assert.match(out, /Total lost packets 0 /);
          });
        } finally {
          peer.close();
        }
      });
    }

    test(`${name}: a wrong password cannot allocate (401, then the stream closes once the 401 budget is spent)`, async () => {
      const events = new CountingEvents();
      await withStreams({ events }, async (ports, backend) => {
        // uclient retries its Allocate again and again; over UDP it gives up on silence, over a stream on the close
        const { code, out } = await uclient([...flags, '-y', '-n', '5', '-u', 'alice', '-w', 'wrong', '-p', String(ports[port]), '127.0.0.1']);
        assert.notEqual(code, 0, out);
        assert.ok(events.authFailures >= 1, 'wrong passwords were checked and answered 401');
        assert.ok(events.refusedFor('challenge_rate') >= 1, 'past the budget, the stream was closed');
        assert.equal(backend.stats().allocations, 0);
      });
    });

    test(`${name}: default peer policy: relaying to loopback is refused with 403`, async () => {
      await withStreams({ peers: {} }, async (ports) => {
        const { code, out } = await uclient([...flags, '-y', '-n', '5', '-u', 'alice', '-w', 'alice-pw', '-p', String(ports[port]), '127.0.0.1']);
        assert.notEqual(code, 0);
        assert.match(out, /error 403 \(Forbidden\)/);
      });
    });
  }
});

describe('turnutils_uclient (coturn) over TLS on the one port shared with signaling', { skip: !installed }, () => {
  test('a whole server with turnTlsPort equal to port: -S on the signaling port relays with nothing lost, while signaling answers there', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'uclient-one-port-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { certfile, keyfile } = makeCert(dir);
    const server = await startServer({
      host: '127.0.0.1', port: 0, turnPort: 0, turnTlsPort: 0, certfile, keyfile, logLevel: 'silent',
      auth: { users: { alice: 'alice-pw' } }, allowLoopbackPeers: true,
    });
    t.after(() => server.stop());
    const port = server.signalingAddress()!.port;
    const peer = await echoPeer();
    t.after(() => peer.close());
    const { code, out } = await uclient([
      '-v', '-t', '-S', '-c', '-e', '127.0.0.1', '-r', String(peer.port), '-m', '2', '-n', '20', '-l', '200',
      '-u', 'alice', '-w', 'alice-pw', '-p', String(port), '127.0.0.1',
    ]);
    assert.equal(code, 0, out);
    const { sent, received } = totals(out);
    assert.ok(sent >= 40, `sent ${sent}`);
    assert.equal(received, sent);
    assert.match(out, /Total lost packets 0 /);
    const alice = await joinUrl(`wss://127.0.0.1:${port}/websocket/uclient`, 'alice', 'alice-pw', { rejectUnauthorized: false });
    alice.close();
  });
});

/** Echo peers on ports P and P + 1 (uclient's RTP and RTCP peers, as coturn's turnutils_peer listens). */
async function echoPeerPair(): Promise<{ port: number; close(): void }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const rtp = await echoPeer();
    const rtcp = createSocket('udp4');
    rtcp.on('message', (data, from) => rtcp.send(data, from.port, from.address));
    const bound = await new Promise<boolean>((resolve) => {
      rtcp.once('error', () => resolve(false));
      rtcp.bind(rtp.port + 1, '127.0.0.1', () => resolve(true));
    });
    if (bound) return { port: rtp.port, close: () => (rtp.close(), rtcp.close()) };
    rtp.close();
    rtcp.close();
  }
  throw new Error('no two free consecutive UDP ports for the echo peers');
}

describe('turnutils_uclient (coturn) against the whole server with relay threads', { skip: !installed }, () => {
  // Without -c, uclient allocates RTP/RTCP pairs: EVEN-PORT with R set, then the RTCP socket redeems the
  // RESERVATION-TOKEN from another 5-tuple, which the kernel may give the other relay thread (it got 508
  // there before tokens named their thread). 7 redeems: the chance that none crosses threads is 1 in 128.
  test('RTP/RTCP pairs (EVEN-PORT + RESERVATION-TOKEN) over 2 relay threads: every pair allocated, nothing lost', async (t) => {
    const server = await startServer({
      host: '127.0.0.1', port: 0, turnPort: 0, turnTcp: false, turnThreads: 2, logLevel: 'silent',
      auth: { users: { alice: 'alice-pw' } }, allowLoopbackPeers: true,
    });
    t.after(() => server.stop());
    const peer = await echoPeerPair();
    t.after(() => peer.close());
    const { code, out } = await uclient([
      '-v', '-e', '127.0.0.1', '-r', String(peer.port), '-m', '10', '-n', '10', '-l', '100',
      '-u', 'alice', '-w', 'alice-pw', '-p', String(server.turnAddress()!.port), '127.0.0.1',
    ]);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /error \d{3}/);
    // uclient -m 10 makes 8 reservations and redeems 7 of them (coturn answers the same): count the RTP/RTCP
    // pairs, an even relay port N and the N + 1 a redeemed reservation gave.
    const ports = new Set([...out.matchAll(/Received relay addr: 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])));
    const pairs = [...ports].filter((p) => p % 2 === 0 && ports.has(p + 1)).length;
    assert.ok(pairs >= 5, `${pairs} RTP/RTCP pairs among relay ports ${[...ports].join(' ')}`);
    const { sent, received } = totals(out);
    assert.ok(sent >= 100, `sent ${sent}`);
    assert.equal(received, sent);
    assert.match(out, /Total lost packets 0 /);
  });
});
