/**
 * Authenticated clients sending seeded random STUN/TURN for a bounded time
 * to the whole server with two relay threads: every method (known or not)
 * and class, random sets of attributes with plausible and random values
 * (addresses, channel numbers, lifetimes, transports, EVEN-PORT, tokens,
 * lengths 0–300), signed with the right key so that they are handled in
 * full, some corrupted after signing, and truncated ChannelData. No uncaught
 * error, no relay thread restarted, and an allocation still works after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { startServer } from '../../src/index.js';
import { Attr, decodeStun, encodeChannelData, encodeStun, encodeXorAddress, getAttribute, longTermKey, newTransactionId, StunClass, StunMethod, u32 } from '../../src/turn/stun.js';
import { RawTurnClient } from './helpers.js';
import { processErrors, seededRandom } from '../helpers/chaos.js';

const RUN_MS = 5_000;
const CLIENTS = 6;
const USERS: Record<string, string> = { u0: 'u0-pw', u1: 'u1-pw', u2: 'u2-pw', alice: 'alice-pw' };
const METHODS = [StunMethod.ALLOCATE, StunMethod.REFRESH, StunMethod.CREATE_PERMISSION, StunMethod.CHANNEL_BIND, StunMethod.SEND, StunMethod.BINDING, 0x00a, 0x0fff];
const CLASSES = [StunClass.REQUEST, StunClass.REQUEST, StunClass.INDICATION, StunClass.SUCCESS];
const TYPES = [...Object.values(Attr), 0x0000, 0x7fff, 0xc001, 0x8000];

function valueFor(rnd: () => number, type: number, transactionId: Buffer, peerPort: number): Buffer {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  if (rnd() < 0.3) {
    switch (type) {
      case Attr.XOR_PEER_ADDRESS:
        return encodeXorAddress({ address: pick(['127.0.0.1', '10.0.0.1', '0.0.0.0', '255.255.255.255', '::1']), port: pick([peerPort, 0, 65535]) }, transactionId);
      case Attr.CHANNEL_NUMBER:
        return Buffer.from([pick([0x40, 0x7f, 0x00, 0xff]), Math.floor(rnd() * 256), 0, 0]);
      case Attr.LIFETIME:
        return u32(pick([0, 1, 600, 3600, 0xffffffff]));
      case Attr.REQUESTED_TRANSPORT:
        return Buffer.from([pick([17, 6, 0]), 0, 0, 0]);
      case Attr.EVEN_PORT:
        return Buffer.from([pick([0x80, 0])]);
      case Attr.REQUESTED_ADDRESS_FAMILY:
        return Buffer.from([pick([1, 2, 3]), 0, 0, 0]);
      case Attr.RESERVATION_TOKEN:
        return Buffer.from(pick(['12345678', '0abcdefg', '9zzzzzzz', '\u00ff1234567']), 'latin1');
      case Attr.DATA:
        return Buffer.alloc(Math.floor(rnd() * 1400), 7);
    }
  }
  return Buffer.from(Array.from({ length: pick([0, 1, 2, 3, 4, 5, 8, 16, 20, 32, 300]) }, () => Math.floor(rnd() * 256)));
}

async function fuzzClient(seed: number, turnPort: number, peerPort: number, deadline: number): Promise<number> {
  const rnd = seededRandom(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const user = `u${seed % 3}`;
  let realm = '';
  let nonce: Buffer = Buffer.alloc(0);
  socket.on('message', (m) => {
    const answer = decodeStun(m);
    if (!answer) return;
    realm = getAttribute(answer, Attr.REALM)?.value.toString() ?? realm;
    nonce = getAttribute(answer, Attr.NONCE)?.value ?? nonce;
  });
  const send = (buf: Buffer) => socket.send(buf, turnPort, '127.0.0.1');
  send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]));
  let sent = 0;
  while (performance.now() < deadline) {
    const transactionId = newTransactionId();
    let message: Buffer;
    if (rnd() < 0.1) {
      message = encodeChannelData(0x4000 + Math.floor(rnd() * 4), Buffer.alloc(Math.floor(rnd() * 200), 1));
      if (rnd() < 0.3) message = message.subarray(0, Math.floor(rnd() * message.length));
    } else {
      const attrs: [number, Buffer][] = [];
      for (let n = Math.floor(rnd() * 6); n > 0; n--) {
        const type = pick(TYPES);
        attrs.push([type, valueFor(rnd, type, transactionId, peerPort)]);
      }
      const method = pick(METHODS);
      if (method === StunMethod.ALLOCATE && rnd() < 0.7) attrs.push([Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]);
      const signed = realm !== '' && rnd() < 0.8;
      if (signed) attrs.push([Attr.USERNAME, Buffer.from(user)], [Attr.REALM, Buffer.from(realm)], [Attr.NONCE, nonce]);
      message = encodeStun(method, pick(CLASSES), transactionId, attrs, signed ? { integrityKey: longTermKey(user, realm, USERS[user]!), fingerprint: rnd() < 0.5 } : {});
      if (rnd() < 0.1) message[Math.floor(rnd() * message.length)] = Math.floor(rnd() * 256);
    }
    send(message);
    if (++sent % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  socket.close();
  return sent;
}

test(`${CLIENTS} authenticated clients sending seeded random TURN for ${RUN_MS / 1000} s to 2 relay threads: no crash, no restart, TURN still works`, async (t) => {
  const errors = processErrors(t);
  const server = await startServer({
    host: '127.0.0.1', port: 0, turnPort: 0, turnTcp: false, turnThreads: 2, hostname: 'localhost', turnIp: '127.0.0.1',
    logLevel: 'silent', allowLoopbackPeers: true, auth: { users: USERS },
  });
  t.after(() => server.stop());
  const peer = createSocket('udp4');
  peer.on('message', (data, from) => peer.send(data, from.port, from.address));
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', () => resolve()));
  t.after(() => peer.close());
  const turnPort = server.turnAddress()!.port;
  const deadline = performance.now() + RUN_MS;
  const sent = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => fuzzClient(100 + i, turnPort, peer.address().port, deadline)));
  assert.ok(sent.every((n) => n > 1_000), `sent ${sent.join(', ')}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(errors, []);
  const metrics = await (await fetch(`http://127.0.0.1:${server.signalingAddress()!.port}/metrics`)).text();
  assert.deepEqual(metrics.split('\n').filter((l) => l.startsWith('webrtc_supervisor_restarts_total')), [], 'no supervisor restarted anything');
  // The fuzz spent 127.0.0.1's budget of unauthenticated answers (16 at once, 4/s): like any client, alice retries.
  let relayed: unknown;
  for (let attempt = 0; attempt < 5 && !relayed; attempt++) {
    const alice = await RawTurnClient.open({ address: '127.0.0.1', port: turnPort }, 'alice', USERS.alice);
    try {
      relayed = getAttribute(await alice.allocate(), Attr.XOR_RELAYED_ADDRESS);
    } catch {
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      alice.close();
    }
  }
  assert.ok(relayed, 'an allocation after the fuzz');
});
