/**
 * Hardening, one user's memory and CPU: permissions per allocation capped
 * (10, 508 beyond) and deleted once expired; XOR-PEER-ADDRESSes per
 * CreatePermission capped (10, 400 beyond) before any per-peer or credential
 * work; oversized messages refused from their header; stats() O(1); EVEN-PORT
 * reservations inside the allocation quota. Real UDP sockets on 127.0.0.1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr, decodeStun, encodeStun, encodeXorAddress, getAttribute, newTransactionId, StunClass, StunMethod,
} from '../../src/turn/stun.js';
import type { StunMessage, TransportAddress } from '../../src/turn/stun.js';
import type { NodeTurnBackend } from '../../src/turn/node-turn-backend.js';
import { CountingEvents, errorCodeOf, RawTurnClient, REALM, startBackend, UdpEndpoint } from './helpers.js';
import type { Attrs } from './helpers.js';
import { poll } from '../helpers/wait.js';

/** The i-th distinct peer IP: 127.0.y.z (any 127/8 address is loopback, allowed in these tests). */
const peer = (i: number, port = 5000): TransportAddress => ({ address: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port });
const peers = (from: number, count: number): TransportAddress[] => Array.from({ length: count }, (_, i) => peer(from + i));

interface AllocationView {
  permissions: Record<string, number>;
  channelBindings: Record<string, unknown>;
}

/** node-turn's allocation table inside the backend (white box: what is really held). */
function engineAllocations(backend: NodeTurnBackend): Record<string, AllocationView> {
  return (backend as unknown as { ctx: { engine: { allocations: Record<string, AllocationView> } } }).ctx.engine.allocations;
}

function heldPermissions(backend: NodeTurnBackend): number {
  return Object.values(engineAllocations(backend)).reduce((n, a) => n + Object.keys(a.permissions).length, 0);
}

/** Sends `request` and waits for the answer with its transaction id (null after 2 s). */
async function roundTrip(client: RawTurnClient, request: Buffer): Promise<StunMessage | null> {
  const id = request.subarray(8, 20);
  client.udp.send(request, client.server);
  try {
    const { data } = await client.udp.next((d) => decodeStun(d.data)?.transactionId.equals(id) === true);
    return decodeStun(data);
  } catch {
    return null;
  }
}

/** A CreatePermission for `targets`, authenticated with `client`'s credentials when `auth`. */
function createPermissionRequest(client: RawTurnClient, targets: TransportAddress[], auth: boolean): Buffer {
  const id = newTransactionId();
  const attrs: Attrs = targets.map((p) => [Attr.XOR_PEER_ADDRESS, encodeXorAddress(p, id)]);
  if (auth) attrs.push([Attr.USERNAME, Buffer.from(client.username)], [Attr.REALM, Buffer.from(REALM)], [Attr.NONCE, Buffer.from(client.nonce!)]);
  return encodeStun(StunMethod.CREATE_PERMISSION, StunClass.REQUEST, id, attrs, { ...(auth ? { integrityKey: client.key } : {}), fingerprint: true });
}

describe('permissions per allocation', () => {
  test('capped at 10: an 11th peer gets 508 and installs nothing; held peers can be refreshed; 50 more requests hold no more', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ events });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.createPermission(...peers(0, 10))).cls, StunClass.SUCCESS);
    const over = await client.createPermission(peer(10));
    assert.equal(errorCodeOf(over), 508, 'RFC 8656 section 9: the server may refuse; 508 Insufficient Capacity');
    // one new peer among held ones: refused whole (nothing installed)
    assert.equal(errorCodeOf(await client.createPermission(peer(0), peer(11))), 508);
    assert.equal((await client.createPermission(...peers(0, 5))).cls, StunClass.SUCCESS, 'refreshing held permissions');
    // ChannelBind installs a permission too
    assert.equal(errorCodeOf(await client.channelBind(0x4000, peer(12))), 508);
    assert.equal((await client.channelBind(0x4000, peer(3, 6000))).cls, StunClass.SUCCESS);
    // the attack: request after request of new peers (before: +255 MiB for a million)
    for (let i = 0; i < 50; i++) assert.equal(errorCodeOf(await client.createPermission(...peers(100 + i * 10, 10))), 508);
    assert.equal(heldPermissions(backend), 10);
    assert.equal(backend.stats().permissions, 10);
    assert.equal(events.refusedFor('permission_quota'), 53);
  });

  test('expired permissions are deleted: by the sweep (the gauges follow) and at the next change; channels too', async (t) => {
    const limits = { permissionLifetimeMs: 300, channelLifetimeMs: 300, sweepIntervalMs: 100 };
    const { backend, server } = await startBackend({ limits });
    const client = await RawTurnClient.open(server);
    const other = await RawTurnClient.open(server, 'bob');
    t.after(async () => { client.close(); other.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.createPermission(...peers(0, 9))).cls, StunClass.SUCCESS);
    assert.equal((await client.channelBind(0x4001, peer(9))).cls, StunClass.SUCCESS);
    assert.deepEqual([backend.stats().permissions, backend.stats().channels], [10, 1]);
    assert.ok(await poll(() => backend.stats().permissions === 0 && backend.stats().channels === 0, 2000, 50), 'the sweep deleted them');
    assert.equal(heldPermissions(backend), 0, 'deleted, not just expired (node-turn never deletes them)');
    assert.deepEqual(Object.keys(Object.values(engineAllocations(backend))[0]!.channelBindings), [], 'the channel number is free again');
    // without a sweep, the next permission change purges its own allocation first
    const { backend: lazy, server: lazyServer } = await startBackend({ limits: { ...limits, sweepIntervalMs: 3_600_000 } });
    const lazyClient = await RawTurnClient.open(lazyServer);
    t.after(async () => { lazyClient.close(); await lazy.stop(); });
    assert.equal((await lazyClient.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await lazyClient.createPermission(...peers(0, 10))).cls, StunClass.SUCCESS);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(lazy.stats().permissions, 10, 'expired but not yet deleted: the gauge lags until the sweep');
    assert.equal((await lazyClient.createPermission(...peers(20, 10))).cls, StunClass.SUCCESS, 'expired ones do not count against the cap');
    assert.equal(heldPermissions(lazy), 10);
    assert.equal(lazy.stats().permissions, 10);
  });
});

describe('stats() and the /metrics gauges are O(1)', () => {
  test('they read counters kept as things change: no allocation, permission or channel is iterated', async (t) => {
    const { backend, server } = await startBackend();
    const clients = await Promise.all([0, 1, 2].map(() => RawTurnClient.open(server)));
    t.after(async () => { for (const c of clients) c.close(); await backend.stop(); });
    for (const [i, c] of clients.entries()) {
      assert.equal((await c.allocate()).cls, StunClass.SUCCESS);
      assert.equal((await c.createPermission(...peers(i * 10, 4))).cls, StunClass.SUCCESS);
      assert.equal((await c.channelBind(0x4000, peer(i * 10 + 5))).cls, StunClass.SUCCESS);
    }
    const engine = (backend as unknown as { ctx: { engine: { allocations: Record<string, AllocationView> } } }).ctx.engine;
    const table = engine.allocations;
    const refuse = (what: string) => ({ ownKeys(): never { throw new Error(`stats() iterated ${what}`); } });
    const saved = Object.values(table).map((a) => [a, a.permissions, a.channelBindings] as const);
    engine.allocations = new Proxy(table, refuse('the allocations'));
    for (const [a, permissions, channels] of saved) {
      a.permissions = new Proxy(permissions, refuse('permissions'));
      a.channelBindings = new Proxy(channels, refuse('channels'));
    }
    try {
      let s = backend.stats();
      for (let i = 0; i < 1000; i++) s = backend.stats();
      assert.deepEqual([s.allocations, s.permissions, s.channels], [3, 15, 3]);
    } finally {
      engine.allocations = table;
      for (const [a, permissions, channels] of saved) {
        a.permissions = permissions;
        a.channelBindings = channels;
      }
    }
    // and they follow deletions
    assert.equal((await clients[0]!.refresh(0)).cls, StunClass.SUCCESS);
    assert.deepEqual([backend.stats().allocations, backend.stats().permissions, backend.stats().channels], [2, 10, 2]);
  });
});

describe('XOR-PEER-ADDRESSes per CreatePermission', () => {
  test('more than 10: 400, before any peer check (no 403) and before any credential check (no 401)', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ peers: {}, events }); // loopback and private peers: 403
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    const denied = Array.from({ length: 11 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1 }));
    assert.equal(errorCodeOf((await roundTrip(client, createPermissionRequest(client, denied, true)))!), 400);
    assert.equal(errorCodeOf((await roundTrip(client, createPermissionRequest(client, denied, false)))!), 400);
    assert.equal(events.refusedFor('too_many_peers'), 2);
    // 10 public peers are fine
    const allowed = Array.from({ length: 10 }, (_, i) => ({ address: `8.8.8.${i + 1}`, port: 1 }));
    assert.equal((await roundTrip(client, createPermissionRequest(client, allowed, true)))!.cls, StunClass.SUCCESS);
  });
});

describe('oversized messages', () => {
  test('a 60 KB CreatePermission (5,000 peers) gets 400 from its header: no permission, next to no CPU', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ events });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    const many = peers(0, 5000);
    const N = 20;
    const authed = Array.from({ length: N }, () => createPermissionRequest(client, many, true));
    const unauthed = Array.from({ length: N }, () => createPermissionRequest(client, many, false));
    const hundredPeers = Array.from({ length: N }, () => createPermissionRequest(client, peers(0, 100), true)); // ~1.4 KB: under the size bound
    assert.ok(authed[0]!.length > 60_000);
    assert.ok(hundredPeers[0]!.length <= 1500);
    const cpuPerRequestMs = async (requests: Buffer[]): Promise<number> => {
      const before = process.cpuUsage();
      for (const r of requests) assert.equal(errorCodeOf((await roundTrip(client, r))!), 400);
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000 / requests.length;
    };
    const authedMs = await cpuPerRequestMs(authed);
    const unauthedMs = await cpuPerRequestMs(unauthed);
    const hundredMs = await cpuPerRequestMs(hundredPeers);
    t.diagnostic(`CPU per request (client and server): 60 KB authenticated ${authedMs.toFixed(3)} ms, unauthenticated ${unauthedMs.toFixed(3)} ms, 1.4 KB with 100 peers ${hundredMs.toFixed(3)} ms`);
    // before: ~25 ms and ~5 ms of server CPU each (every peer decoded, permitted, the HMAC over 60 KB)
    assert.ok(authedMs < 5, `${authedMs} ms`);
    assert.ok(unauthedMs < 5, `${unauthedMs} ms`);
    assert.equal(backend.stats().permissions, 0);
    assert.equal(events.refusedFor('too_large'), 2 * N);
    assert.equal(events.refusedFor('too_many_peers'), N);
  });

  test('other oversized messages: a request gets 400, an indication is dropped; a large Send indication is still relayed', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const target = await UdpEndpoint.open();
    t.after(async () => { client.close(); target.close(); await backend.stop(); });
    const padding: [number, Buffer] = [Attr.SOFTWARE, Buffer.alloc(1500, 0x61)];
    const binding = encodeStun(StunMethod.BINDING, StunClass.REQUEST, newTransactionId(), [padding]);
    assert.equal(errorCodeOf((await roundTrip(client, binding))!), 400);
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.createPermission(target.address)).cls, StunClass.SUCCESS);
    // a Send indication carrying 4,000 bytes of DATA: relayed
    client.sendIndication(target.address, Buffer.alloc(4000, 7));
    assert.equal((await target.next()).data.length, 4000);
    // a Send indication over the bound with more than 16 attributes: dropped
    const id = newTransactionId();
    const stuffed: Attrs = [[Attr.XOR_PEER_ADDRESS, encodeXorAddress(target.address, id)], [Attr.DATA, Buffer.alloc(1600)]];
    for (let i = 0; i < 20; i++) stuffed.push([Attr.SOFTWARE, Buffer.alloc(4)]);
    client.udp.send(encodeStun(StunMethod.SEND, StunClass.INDICATION, id, stuffed), server);
    assert.ok(await target.silent(undefined, 300));
    // another indication over the bound: dropped, unanswered
    client.udp.send(encodeStun(StunMethod.DATA, StunClass.INDICATION, newTransactionId(), [padding]), server);
    assert.ok(await client.udp.silent(undefined, 300));
  });
});

describe('EVEN-PORT reservations count in the allocation quota', () => {
  const R_BIT: [number, Buffer] = [Attr.EVEN_PORT, Buffer.from([0x80, 0, 0, 0])];

  test('perUser 2: an Allocate with R plus one plain one exhaust the quota (486); the slot passes to the redeeming allocation', async (t) => {
    const { backend, server } = await startBackend({ quotas: { perUser: 2, total: 100 } });
    const [rtp, rtcp, extra] = await Promise.all([0, 1, 2].map(() => RawTurnClient.open(server)));
    t.after(async () => { rtp!.close(); rtcp!.close(); extra!.close(); await backend.stop(); });
    const r = await rtp!.allocate([R_BIT]);
    assert.equal(r.cls, StunClass.SUCCESS, `error ${errorCodeOf(r)}`);
    const token = getAttribute(r, Attr.RESERVATION_TOKEN)!.value;
    assert.equal(errorCodeOf(await extra!.allocate()), 486, 'the reservation holds the second slot (before: granted, escaping the quota)');
    assert.equal((await rtcp!.allocate([[Attr.RESERVATION_TOKEN, token]])).cls, StunClass.SUCCESS, 'redeemed: no new slot needed');
    assert.equal(errorCodeOf(await extra!.allocate()), 486, 'the slot passed to the allocation');
    assert.equal((await rtcp!.refresh(0)).cls, StunClass.SUCCESS);
    assert.equal((await extra!.allocate()).cls, StunClass.SUCCESS, 'freed with the allocation');
  });

  test('an unredeemed reservation gives its slot back when it expires; R with one slot left gets 486; the total counts it too (508)', async (t) => {
    const { backend, server } = await startBackend({ quotas: { perUser: 2, total: 3 }, limits: { reservationMs: 300 } });
    const [a1, a2, a3, bob] = await Promise.all([
      RawTurnClient.open(server), RawTurnClient.open(server), RawTurnClient.open(server), RawTurnClient.open(server, 'bob'),
    ]);
    t.after(async () => { for (const c of [a1, a2, a3, bob]) c!.close(); await backend.stop(); });
    assert.equal((await a1!.allocate([R_BIT])).cls, StunClass.SUCCESS);
    assert.equal(errorCodeOf(await a2!.allocate()), 486);
    assert.equal(backend.stats().relaySockets, 2);
    assert.ok(await poll(async () => backend.stats().relaySockets === 1, 1000, 25), 'the reservation expired');
    assert.equal((await a2!.allocate()).cls, StunClass.SUCCESS, 'its slot is free again');
    assert.equal(errorCodeOf(await a3!.allocate([R_BIT])), 486, 'no slot left for a reservation');
    // total 3: alice holds 2; bob's reservation needs 2 slots, only 1 is left
    assert.equal(errorCodeOf(await bob!.allocate([R_BIT])), 508);
    assert.equal((await bob!.allocate()).cls, StunClass.SUCCESS);
  });
});
