/**
 * NodeTurnBackend over real UDP sockets on 127.0.0.1 with a raw client built
 * on our codec: Binding, the long-term credential exchange, Allocate,
 * CreatePermission, Send/Data, ChannelBind and ChannelData both ways,
 * Refresh, expiry, 401, 403, quotas, and a clean stop.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import {
  Attr, decodeXorAddress, encodeStun, getAttribute, newTransactionId, StunClass, StunMethod,
} from '../../src/turn/stun.js';
import { errorCodeOf, lifetimeOf, RawTurnClient, REALM, startBackend, staticAuthenticator, UdpEndpoint } from './helpers.js';
import { poll } from '../helpers/wait.js';

describe('NodeTurnBackend#start', () => {
  test('port 0 binds a real free port (node-turn alone would take 3478)', async (t) => {
    const a = await startBackend();
    const b = await startBackend();
    t.after(() => Promise.all([a.backend.stop(), b.backend.stop()]));
    assert.notEqual(a.server.port, 0);
    assert.notEqual(a.server.port, 3478);
    assert.notEqual(a.server.port, b.server.port);
    assert.deepEqual(a.backend.address(), { host: '127.0.0.1', port: a.server.port });
  });
});

describe('STUN Binding', () => {
  test('answers with XOR-MAPPED-ADDRESS, no credentials needed', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    const r = await client.request(StunMethod.BINDING, []);
    assert.equal(r.cls, StunClass.SUCCESS);
    assert.deepEqual(decodeXorAddress(getAttribute(r, Attr.XOR_MAPPED_ADDRESS)!.value, r.transactionId), {
      family: 4, ...client.udp.address,
    });
  });
});

describe('Allocate', () => {
  test('401 with REALM = realm and a NONCE, then success with integrity, relayed and mapped addresses', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    const challenge = await client.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]);
    assert.equal(errorCodeOf(challenge), 401);
    assert.equal(getAttribute(challenge, Attr.REALM)!.value.toString(), REALM);
    assert.ok(getAttribute(challenge, Attr.NONCE)!.value.length > 0);
    const r = await client.allocate();
    assert.equal(r.cls, StunClass.SUCCESS, `error ${errorCodeOf(r)}`);
    assert.ok(client.integrityValid(r));
    assert.equal(client.relay!.address, '127.0.0.1');
    assert.ok(client.relay!.port >= 49152);
    assert.deepEqual(decodeXorAddress(getAttribute(r, Attr.XOR_MAPPED_ADDRESS)!.value, r.transactionId), { family: 4, ...client.udp.address });
    assert.equal(lifetimeOf(r), 600);
    assert.equal(backend.stats().allocations, 1);
  });

  test('a wrong password gets 401 and no allocation', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server, 'alice', 'not-the-password');
    t.after(async () => { client.close(); await backend.stop(); });
    const r = await client.allocate();
    assert.equal(errorCodeOf(r), 401);
    assert.equal(backend.stats().allocations, 0);
  });

  test('an unknown user gets 401', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server, 'mallory', 'x');
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(errorCodeOf(await client.allocate()), 401);
  });

  test('no REQUESTED-TRANSPORT: 400; TCP: 442; IPv6 family: 440', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(errorCodeOf(await client.authed(StunMethod.ALLOCATE, [])), 400);
    assert.equal(errorCodeOf(await client.authed(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([6, 0, 0, 0])]])), 442);
    assert.equal(errorCodeOf(await client.allocate([[Attr.REQUESTED_ADDRESS_FAMILY, Buffer.from([2, 0, 0, 0])]])), 440);
    assert.equal(backend.stats().allocations, 0);
  });

  test('the relay port comes from relayPorts', async (t) => {
    const { backend, server } = await startBackend({ relayPorts: [50000, 50009] });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.ok(client.relay!.port >= 50000 && client.relay!.port <= 50009, String(client.relay!.port));
  });
});

describe('EVEN-PORT and RESERVATION-TOKEN (RTP/RTCP pairs)', () => {
  test('R bit: an even port, the next one reserved behind a token another Allocate redeems once', async (t) => {
    const { backend, server } = await startBackend();
    const rtp = await RawTurnClient.open(server);
    const rtcp = await RawTurnClient.open(server);
    const late = await RawTurnClient.open(server);
    t.after(async () => { rtp.close(); rtcp.close(); late.close(); await backend.stop(); });
    const r = await rtp.allocate([[Attr.EVEN_PORT, Buffer.from([0x80, 0, 0, 0])]]);
    assert.equal(r.cls, StunClass.SUCCESS, `error ${errorCodeOf(r)}`);
    assert.equal(rtp.relay!.port % 2, 0);
    const token = getAttribute(r, Attr.RESERVATION_TOKEN)!.value;
    assert.equal(token.length, 8);
    assert.equal(backend.stats().relaySockets, 2);
    assert.equal(errorCodeOf(await rtcp.allocate([[Attr.RESERVATION_TOKEN, token], [Attr.EVEN_PORT, Buffer.from([0, 0, 0, 0])]])), 400);
    const r2 = await rtcp.allocate([[Attr.RESERVATION_TOKEN, token]]);
    assert.equal(r2.cls, StunClass.SUCCESS, `error ${errorCodeOf(r2)}`);
    assert.equal(rtcp.relay!.port, rtp.relay!.port + 1);
    assert.equal(errorCodeOf(await late.allocate([[Attr.RESERVATION_TOKEN, token]])), 508);
  });

  test('EVEN-PORT without R: an even port, no token', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    const r = await client.allocate([[Attr.EVEN_PORT, Buffer.from([0, 0, 0, 0])]]);
    assert.equal(r.cls, StunClass.SUCCESS);
    assert.equal(client.relay!.port % 2, 0);
    assert.equal(getAttribute(r, Attr.RESERVATION_TOKEN), undefined);
  });
});

describe('permissions and data', () => {
  test('CreatePermission, Send indication to the peer, Data indication back', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);

    // without permission the relay drops peer traffic
    peer.send(Buffer.from('too early'), client.relay!);
    assert.ok(await client.udp.silent(undefined, 200));

    const p = await client.createPermission(peer.address);
    assert.equal(p.cls, StunClass.SUCCESS, `error ${errorCodeOf(p)}`);
    assert.ok(client.integrityValid(p));

    client.sendIndication(peer.address, Buffer.from('hello peer'));
    const got = await peer.next();
    assert.equal(got.data.toString(), 'hello peer');
    assert.deepEqual({ address: got.from.address, port: got.from.port }, { address: client.relay!.address, port: client.relay!.port });

    peer.send(Buffer.from('hello client'), client.relay!);
    const back = await client.nextDataIndication();
    assert.equal(back.data.toString(), 'hello client');
    assert.deepEqual({ address: back.peer.address, port: back.peer.port }, peer.address);
  });

  test('ChannelBind, then ChannelData both ways', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    const b = await client.channelBind(0x4001, peer.address);
    assert.equal(b.cls, StunClass.SUCCESS, `error ${errorCodeOf(b)}`);
    assert.ok(client.integrityValid(b), 'ChannelBind success carries a valid MESSAGE-INTEGRITY');

    client.sendChannelData(0x4001, Buffer.from('over the channel'));
    const got = await peer.next();
    assert.equal(got.data.toString(), 'over the channel');

    peer.send(Buffer.from('and back'), client.relay!);
    assert.deepEqual(await client.nextChannelData(), { channel: 0x4001, data: Buffer.from('and back') });

    // a channel bound to another peer, or a peer bound to another channel: 400
    const other = await UdpEndpoint.open();
    t.after(() => other.close());
    assert.equal(errorCodeOf(await client.channelBind(0x4001, other.address)), 400);
    assert.equal(errorCodeOf(await client.channelBind(0x4002, peer.address)), 400);
    assert.equal(errorCodeOf(await client.channelBind(0x3fff, other.address)), 400);
    // refreshing the same binding is fine
    assert.equal((await client.channelBind(0x4001, peer.address)).cls, StunClass.SUCCESS);
  });

  test('ChannelData on an unbound channel goes nowhere', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await backend.stop(); });
    await client.allocate();
    await client.createPermission(peer.address);
    client.sendChannelData(0x4005, Buffer.from('nobody'));
    assert.ok(await peer.silent(undefined, 200));
  });
});

describe('Refresh and expiry', () => {
  test('Refresh keeps the allocation, grants min(requested, turnLifetime); LIFETIME 0 deletes it and frees its port', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: 300 });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(lifetimeOf(await client.allocate()), 300);
    const r = await client.refresh(100);
    assert.equal(r.cls, StunClass.SUCCESS);
    assert.equal(lifetimeOf(r), 100);
    assert.ok(client.integrityValid(r));
    assert.equal(lifetimeOf(await client.refresh(10_000)), 300);
    assert.equal(lifetimeOf(await client.refresh()), 300);
    assert.equal(backend.stats().allocations, 1);
    // still usable after refreshes
    assert.equal((await client.createPermission({ address: '127.0.0.1', port: 9 })).cls, StunClass.SUCCESS);

    const del = await client.refresh(0);
    assert.equal(lifetimeOf(del), 0);
    assert.equal(backend.stats().allocations, 0);
    assert.equal(backend.stats().relaySockets, 0);
    assert.equal(errorCodeOf(await client.refresh()), 437);
  });

  test('an allocation expires after its lifetime and its relay socket closes', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: 1 });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(lifetimeOf(await client.allocate()), 1);
    assert.ok(await poll(() => backend.stats().allocations === 0 && backend.stats().relaySockets === 0, 5_000, 50));
    assert.equal(errorCodeOf(await client.refresh()), 437);
    // the port can be bound again by anyone
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(client.relay!.port, '127.0.0.1', () => resolve());
    });
    again.close();
  });
});

describe('peer filtering', () => {
  test('by default a loopback peer gets 403, on CreatePermission and ChannelBind', async (t) => {
    const { backend, server } = await startBackend({ peers: {} });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    await client.allocate();
    for (const address of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '192.168.1.1', '0.0.0.0']) {
      assert.equal(errorCodeOf(await client.createPermission({ address, port: 5000 })), 403, address);
    }
    assert.equal(errorCodeOf(await client.channelBind(0x4000, { address: '127.0.0.1', port: 5000 })), 403);
    // one refused peer refuses the whole request
    assert.equal(errorCodeOf(await client.createPermission({ address: '8.8.8.8', port: 1 }, { address: '10.1.1.1', port: 1 })), 403);
    // IPv6 equivalents: 403 too; an allowed IPv6 peer: 443 (the relay is IPv4)
    for (const address of ['::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1']) {
      assert.equal(errorCodeOf(await client.createPermission({ address, port: 5000 })), 403, address);
    }
    assert.equal(errorCodeOf(await client.createPermission({ address: '2a00:1450::1', port: 5000 })), 443);
  });

  test('a public peer is allowed (permission only: nothing is sent to it)', async (t) => {
    const { backend, server } = await startBackend({ peers: {} });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    await client.allocate();
    assert.equal((await client.createPermission({ address: '8.8.8.8', port: 5000 })).cls, StunClass.SUCCESS);
  });

  test('the server\'s own address is a peer on relay ports only: Send elsewhere dropped, ChannelBind 403', async (t) => {
    const relayPorts: [number, number] = [50000, 50100];
    const peers = { defaultDenied: [], selfAddresses: ['127.0.0.1'], relayPorts };
    const { backend, server } = await startBackend({ peers, relayPorts });
    const client = await RawTurnClient.open(server);
    const other = await RawTurnClient.open(server, 'bob');
    let service = await UdpEndpoint.open(); // stands for another UDP service on the TURN host
    for (let i = 0; i < 5 && service.address.port >= 50000 && service.address.port <= 50100; i++) {
      service.close();
      service = await UdpEndpoint.open();
    }
    t.after(async () => { client.close(); other.close(); service.close(); await backend.stop(); });
    await client.allocate();
    await other.allocate();
    assert.equal((await client.createPermission({ address: '127.0.0.1', port: 1 })).cls, StunClass.SUCCESS);
    client.sendIndication(service.address, Buffer.from('probe'));
    assert.ok(await service.silent(undefined, 200));
    assert.equal(errorCodeOf(await client.channelBind(0x4000, service.address)), 403);
    // relay to relay (two clients both behind TURN) works
    assert.equal((await other.createPermission(client.relay!)).cls, StunClass.SUCCESS);
    client.sendIndication(other.relay!, Buffer.from('relay to relay'));
    assert.equal((await other.nextDataIndication()).data.toString(), 'relay to relay');
  });
});

describe('quotas', () => {
  test('per user: 486; in total: 508; a freed allocation frees its slot', async (t) => {
    const { backend, server } = await startBackend({ quotas: { perUser: 2, total: 3 } });
    const clients = await Promise.all([0, 1, 2, 3].map(() => RawTurnClient.open(server, 'alice')));
    const bobs = await Promise.all([0, 1].map(() => RawTurnClient.open(server, 'bob')));
    t.after(async () => { for (const c of [...clients, ...bobs]) c.close(); await backend.stop(); });
    assert.equal((await clients[0]!.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await clients[1]!.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await clients[2]!.allocate()), 486);
    assert.equal((await bobs[0]!.allocate()).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await bobs[1]!.allocate()), 508);
    await clients[0]!.refresh(0);
    assert.equal((await clients[3]!.allocate()).cls, StunClass.SUCCESS);
  });
});

describe('credentials', () => {
  test('an async auth function is asked once, then the cache answers', async (t) => {
    let calls = 0;
    const authenticator = {
      async passwordFor(username: string) {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return username === 'alice' ? { password: 'alice-pw', name: 'Alice' } : null;
      },
    };
    const { backend, server, cache } = await startBackend({ authenticator });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.refresh()).cls, StunClass.SUCCESS);
    assert.equal((await client.createPermission({ address: '127.0.0.1', port: 1 })).cls, StunClass.SUCCESS);
    assert.equal(calls, 1);
    assert.deepEqual(cache.lookup('alice'), { password: 'alice-pw', name: 'Alice' });
  });

  test('a credential remembered by signaling works without any auth lookup', async (t) => {
    const authenticator = staticAuthenticator({});
    const { backend, server, cache } = await startBackend({ authenticator });
    cache.remember('carol', 'carol-pw', 60_000);
    const client = await RawTurnClient.open(server, 'carol', 'carol-pw');
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal(authenticator.lookups, 0);
  });

  test('a nonce for another source, or a made-up one, gets 438 with a fresh nonce', async (t) => {
    const { backend, server } = await startBackend();
    const a = await RawTurnClient.open(server);
    const b = await RawTurnClient.open(server);
    t.after(async () => { a.close(); b.close(); await backend.stop(); });
    await a.allocate();
    b.nonce = a.nonce;
    b.realm = a.realm;
    const stale = await b.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]], { auth: true });
    assert.equal(errorCodeOf(stale), 438);
    assert.ok(getAttribute(stale, Attr.NONCE));
    b.nonce = 'made-up';
    assert.equal(errorCodeOf(await b.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]], { auth: true })), 438);
  });

  test('nonces expire: 438, and the client carries on with the new one', async (t) => {
    let now = Date.now();
    const { backend, server } = await startBackend({ nonce: { lifetimeSec: 60, now: () => now } });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    await client.allocate();
    const old = client.nonce;
    now += 61_000;
    const stale = await client.request(StunMethod.REFRESH, [], { auth: true });
    assert.equal(errorCodeOf(stale), 438);
    assert.equal((await client.refresh()).cls, StunClass.SUCCESS);
    assert.notEqual(client.nonce, old);
  });
});

describe('robustness', () => {
  test('garbage, truncated and bad-fingerprint datagrams are dropped; the listener carries on', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    const id = newTransactionId();
    const good = encodeStun(StunMethod.BINDING, StunClass.REQUEST, id, [[Attr.SOFTWARE, Buffer.from('x')]], { fingerprint: true });
    const badFingerprint = Buffer.from(good);
    badFingerprint[badFingerprint.length - 1] = badFingerprint[badFingerprint.length - 1]! ^ 0xff;
    for (const junk of [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n\r\n'), good.subarray(0, 22), badFingerprint, Buffer.alloc(3, 0x40)]) {
      client.udp.send(junk, server);
    }
    assert.ok(await client.udp.silent(undefined, 200));
    assert.equal((await client.request(StunMethod.BINDING, [])).cls, StunClass.SUCCESS);
  });

  test('a malformed known attribute gets 400', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    await client.allocate();
    const r = await client.request(StunMethod.REFRESH, [[Attr.LIFETIME, Buffer.from([0, 1])]], { auth: true });
    assert.equal(errorCodeOf(r), 400);
  });
});

describe('NodeTurnBackend#stop', () => {
  test('closes the listening socket and every relay socket', async () => {
    const { backend, server } = await startBackend();
    const clients = await Promise.all([0, 1, 2].map(() => RawTurnClient.open(server)));
    for (const c of clients) assert.equal((await c.allocate()).cls, StunClass.SUCCESS);
    assert.equal(backend.stats().relaySockets, 3);
    await backend.stop();
    assert.deepEqual(backend.stats(), {
      allocations: 0, permissions: 0, channels: 0, relayedBytes: 0, relaySockets: 0, pendingAllocations: 0, pendingAuthLookups: 0, engineNonces: 0, streams: 0,
    });
    assert.equal(backend.address(), null);
    // the port is free again
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(server.port, '127.0.0.1', () => resolve());
    });
    s.close();
    for (const c of clients) c.close();
    await backend.stop(); // idempotent
  });
});


describe('NodeTurnBackend#stats: permissions, channels and relayed bytes', () => {
  test('counts live permissions and channels, and the payload bytes relayed both ways', async (t) => {
    let sunk = 0;
    let calls = 0;
    const { backend, server } = await startBackend({ relayed: { add: (n) => { sunk += n; calls++; } } });
    const client = await RawTurnClient.open(server);
    const peerA = await UdpEndpoint.open();
    const peerB = await UdpEndpoint.open();
    t.after(async () => { client.close(); peerA.close(); peerB.close(); await backend.stop(); });
    await client.allocate();
    assert.deepEqual([backend.stats().allocations, backend.stats().permissions, backend.stats().channels], [1, 0, 0]);

    // a permission for peer A (Send/Data), a channel for peer B (ChannelBind installs B's permission too)
    assert.equal((await client.createPermission(peerA.address)).cls, StunClass.SUCCESS);
    assert.equal((await client.channelBind(0x4000, peerB.address)).cls, StunClass.SUCCESS);
    // permissions are per IP address (RFC 8656 section 9): both peers are 127.0.0.1, so one
    assert.deepEqual([backend.stats().permissions, backend.stats().channels], [1, 1]);

    // client -> peer: a Send indication (5 bytes) and ChannelData (7 bytes)
    client.sendIndication(peerA.address, Buffer.from('hello'));
    assert.equal((await peerA.next()).data.toString(), 'hello');
    client.sendChannelData(0x4000, Buffer.from('channel'));
    assert.equal((await peerB.next()).data.toString(), 'channel');
    // peer -> client: a Data indication (3 bytes) and ChannelData (4 bytes)
    peerA.send(Buffer.from('abc'), client.relay!);
    assert.equal((await client.nextDataIndication()).data.toString(), 'abc');
    peerB.send(Buffer.from('wxyz'), client.relay!);
    assert.equal((await client.nextChannelData()).data.toString(), 'wxyz');

    assert.equal(backend.stats().relayedBytes, 5 + 7 + 3 + 4);
    assert.equal(sunk, 5 + 7 + 3 + 4);
    assert.equal(calls, 4, 'one add per datagram');

    // nothing is counted for what is not relayed: no permission for 127.0.0.2
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.2', () => resolve()));
    t.after(() => stranger.close());
    let strangerGot = 0;
    stranger.on('message', () => strangerGot++);
    stranger.send(Buffer.from('dropped'), client.relay!.port, client.relay!.address);
    client.sendIndication({ address: '127.0.0.2', port: stranger.address().port }, Buffer.from('dropped too'));
    assert.ok(await client.udp.silent(undefined, 300));
    assert.equal(strangerGot, 0);
    assert.equal(backend.stats().relayedBytes, 19);

    // the allocation ends: its permissions and channels with it
    assert.equal((await client.refresh(0)).cls, StunClass.SUCCESS);
    assert.deepEqual([backend.stats().allocations, backend.stats().permissions, backend.stats().channels], [0, 0, 0]);
  });
});
