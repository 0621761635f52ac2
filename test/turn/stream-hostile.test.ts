/**
 * Hostile TURN streams (TCP and TLS), each answered and bounded, and none
 * stopping the listener: frames split anywhere, a length field larger than
 * the data sent, 64 KiB of garbage, ChannelData with no allocation,
 * thousands of idle connections (per-IP and total caps, the idle deadline),
 * slow TLS handshakes (the handshake timeout). After each, a fresh client
 * allocates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCert } from '../helpers/fixtures.js';
import { poll } from '../helpers/wait.js';
import { Attr, encodeChannelData, encodeStun, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';
import type { TurnLimits } from '../../src/turn/limits.js';
import { CountingEvents, errorCodeOf, RawTurnClient, startBackend, StreamEndpoint } from './helpers.js';

let tls: { cert: Buffer; key: Buffer };
let certDir: string;
before(() => {
  certDir = mkdtempSync(join(tmpdir(), 'turn-hostile-'));
  const { certfile, keyfile } = makeCert(certDir);
  tls = { cert: readFileSync(certfile), key: readFileSync(keyfile) };
});
after(() => rmSync(certDir, { recursive: true, force: true }));

async function hostileBackend(limits: Partial<TurnLimits> = {}, handshakeTimeoutMs?: number) {
  const events = new CountingEvents();
  const { backend } = await startBackend({ tcp: true, tls, events, limits, ...(handshakeTimeoutMs ? { handshakeTimeoutMs } : {}) });
  const a = backend.addresses()!;
  return {
    backend,
    events,
    tcp: { address: '127.0.0.1', port: a.tcp!.port },
    tls: { address: '127.0.0.1', port: a.tls!.port },
  };
}

type Hostile = Awaited<ReturnType<typeof hostileBackend>>;

/** The listener goes on: a fresh client over `kind` allocates. */
async function stillServes(s: Hostile, kind: 'tcp' | 'tls'): Promise<void> {
  const client = await RawTurnClient.openStream(s[kind], kind);
  try {
    const r = await client.allocate();
    assert.equal(r.cls, StunClass.SUCCESS, `a fresh ${kind} client allocates: ${errorCodeOf(r)}`);
  } finally {
    client.close();
  }
}

/** A raw TCP connection from `localAddress`; resolves once connected (or refused: null). */
function rawTcp(port: number, localAddress = '127.0.0.1'): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(null));
  });
}

const closed = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
const binding = () => encodeStun(StunMethod.BINDING, StunClass.REQUEST, newTransactionId(), [[Attr.SOFTWARE, Buffer.from('hostile')]]);

for (const kind of ['tcp', 'tls'] as const) {
  describe(`hostile TURN streams over ${kind.toUpperCase()}`, () => {
    test('frames split anywhere and trickled a byte at a time are answered', async (t) => {
      const s = await hostileBackend();
      t.after(() => s.backend.stop());
      const stream = await StreamEndpoint.open(s[kind], kind);
      t.after(() => stream.close());
      const request = binding();
      for (const cut of [1, 7, 19, 20, request.length - 1]) {
        stream.send(request.subarray(0, cut));
        await new Promise((r) => setTimeout(r, 20));
        assert.ok(await stream.silent(() => true, 30), 'nothing answered before the frame is whole');
        stream.send(request.subarray(cut));
        const answer = await stream.next();
        assert.equal(answer.data.readUInt16BE(0), 0x0101, `a Binding success after a split at ${cut}`);
      }
      const again = binding();
      for (const byte of again) stream.send(Buffer.from([byte]));
      assert.ok((await stream.next()).data.subarray(8, 20).equals(again.subarray(8, 20)), 'the trickled request is answered');
      assert.equal(stream.framingError, null);
    });

    test('a length field larger than the data sent: held (one frame at most), then closed at the idle deadline', async (t) => {
      const s = await hostileBackend({ streamIdleMs: 400 });
      t.after(() => s.backend.stop());
      const header = binding();
      header.writeUInt16BE(1000, 2); // announces 1000 bytes of attributes
      const stun = await StreamEndpoint.open(s[kind], kind);
      stun.send(Buffer.concat([header, Buffer.alloc(100)]));
      const channel = await StreamEndpoint.open(s[kind], kind);
      channel.send(encodeChannelData(0x4000, Buffer.alloc(65535)).subarray(0, 1000)); // ChannelData header: 65535 bytes
      const started = performance.now();
      assert.ok(await stun.silent(() => true, 200), 'no answer to a frame not whole');
      assert.ok(await stun.closedWithin(3000), 'closed at the idle deadline');
      assert.ok(await channel.closedWithin(3000));
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2500, `closed after ${Math.round(elapsed)} ms`);
      assert.equal(s.events.refusedFor('stream_timeout'), 2);
      assert.ok(await poll(() => s.backend.stats().streams === 0, 2000, 10));
      await stillServes(s, kind);
    });

    test('64 KiB of garbage: closed at once, counted, nothing answered', async (t) => {
      const s = await hostileBackend();
      t.after(() => s.backend.stop());
      const garbage = await StreamEndpoint.open(s[kind], kind);
      garbage.send(Buffer.alloc(64 * 1024, 0xff));
      assert.ok(await garbage.closedWithin(2000), 'closed');
      assert.equal(s.events.refusedFor('stream_invalid'), 1);
      const odd = await StreamEndpoint.open(s[kind], kind);
      const bad = binding();
      bad.writeUInt16BE(3, 2); // a STUN length that is not a multiple of 4
      odd.send(bad);
      assert.ok(await odd.closedWithin(2000));
      const early = await StreamEndpoint.open(s[kind], kind);
      early.send(encodeChannelData(0x4000, Buffer.from('before any allocation')));
      assert.ok(await early.closedWithin(2000), 'ChannelData with no allocation cannot be a client');
      assert.equal(s.events.refusedFor('stream_invalid'), 3);
      await stillServes(s, kind);
    });
  });
}

describe('hostile TURN streams: many idle connections, slow TLS handshakes', () => {
  test('thousands of idle TCP connections: per-IP and total caps, then the idle deadline closes them all', { timeout: 60_000 }, async (t) => {
    const idleMs = 15_000;
    const s = await hostileBackend({ streamMaxConnections: 1000, streamMaxPerIp: 400, streamIdleMs: idleMs });
    t.after(() => s.backend.stop());
    const sockets: Socket[] = [];
    t.after(() => sockets.forEach((socket) => socket.destroy()));
    const sources = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const started = performance.now();
    for (const source of sources) {
      for (let batch = 0; batch < 3; batch++) {
        const opened = await Promise.all(Array.from({ length: 200 }, () => rawTcp(s.tcp.port, source)));
        for (const socket of opened) if (socket) sockets.push(socket.on('error', () => {}));
      }
    }
    assert.equal(sockets.length, 2400, 'every connection was accepted by the kernel');
    assert.ok(performance.now() - started < idleMs / 2, `connected within the idle deadline: ${Math.round(performance.now() - started)} ms`);
    assert.ok(await poll(() => s.events.refusedFor('stream_limit') === 1400, 5000, 20), `refused ${s.events.refusedFor('stream_limit')}`);
    assert.equal(s.backend.stats().streams, 1000, 'the total cap');
    const open = () => sockets.filter((socket) => !socket.destroyed).length;
    assert.ok(await poll(() => open() === 1000, 5000, 20), `open ${open()}`);
    const perSource = sources.map((source) => sockets.filter((socket) => !socket.destroyed && socket.localAddress === source).length);
    assert.deepEqual(perSource, [400, 400, 200, 0], 'the per-IP cap, then the total cap');
    const latecomer = await RawTurnClient.openStream(s.tcp, 'tcp', 'alice', 'alice-pw', '127.0.0.5');
    assert.ok(await latecomer.udp.closedWithin(2000), 'full: a newcomer is closed');

    assert.ok(await poll(() => open() === 0, idleMs + 5000, 50), `after the idle deadline, open ${open()}`);
    assert.ok(performance.now() - started >= idleMs, 'not before it');
    assert.equal(s.events.refusedFor('stream_timeout'), 1000);
    assert.equal(s.backend.stats().streams, 0);
    await stillServes(s, 'tcp');
  });

  test('TLS handshakes too slow: closed after the handshake timeout, counted before the handshake, the listener goes on', { timeout: 30_000 }, async (t) => {
    const s = await hostileBackend({}, 400);
    t.after(() => s.backend.stop());
    const silent = (await Promise.all(Array.from({ length: 50 }, () => rawTcp(s.tls.port)))).filter((x): x is Socket => x !== null);
    const partial = (await rawTcp(s.tls.port))!;
    partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a TLS record header announcing 512 bytes, and one
    for (const socket of [...silent, partial]) socket.on('error', () => {});
    assert.equal(silent.length, 50);
    assert.ok(await poll(() => s.backend.stats().streams === 51, 2000, 10), 'counted before the handshake');
    await stillServes(s, 'tls'); // meanwhile
    const started = performance.now();
    await Promise.all([...silent, partial].map(closed));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 3000, `all closed ${Math.round(elapsed)} ms later`);
    assert.ok(await poll(() => s.events.refusedFor('stream_timeout') === 51, 2000, 20), `timed out: ${s.events.refusedFor('stream_timeout')}`);
    assert.ok(await poll(() => s.backend.stats().streams === 0, 2000, 10), `streams ${s.backend.stats().streams}`);
    await stillServes(s, 'tls');
  });
});
