/**
 * node-turn@0.0.6's defects, one `describe` each (numbered as in the issue).
 * Every mend is proven twice: the mended backend behaves, and the same test
 * with that one mend switched off (`unmended`) shows node-turn's defect.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { Attr, decodeStun, encodeStun, getAttribute, newTransactionId, StunClass, StunMethod, u32 } from '../../src/turn/stun.js';
import { NodeTurnDefect } from '../../src/turn/turn-backend.js';
import { errorCodeOf, lifetimeOf, RawTurnClient, startBackend, UdpEndpoint } from './helpers.js';
import type { BackendOptions } from './helpers.js';
import { poll } from '../helpers/wait.js';

async function allocated(o: BackendOptions = {}) {
  const { backend, server } = await startBackend(o);
  const client = await RawTurnClient.open(server);
  const r = await client.allocate();
  assert.equal(r.cls, StunClass.SUCCESS, `allocate: error ${errorCodeOf(r)}`);
  return { backend, server, client, cleanup: async () => { client.close(); await backend.stop(); } };
}

function canBind(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => {
      s.close();
      resolve(true);
    });
  });
}

describe('#1 Refresh deletes the allocation (NaN lifetime, LIFETIME 0)', () => {
  test('mended: Refresh with and without LIFETIME keeps the allocation', async (t) => {
    const { backend, client, cleanup } = await allocated();
    t.after(cleanup);
    const r = await client.refresh(600);
    assert.equal(lifetimeOf(r), 600);
    assert.equal(lifetimeOf(await client.refresh()), 600);
    assert.equal(backend.stats().allocations, 1);
    assert.equal((await client.createPermission({ address: '127.0.0.1', port: 1 })).cls, StunClass.SUCCESS);
  });

  test('unmended: the first Refresh (as werift and browsers send it) kills the allocation', async (t) => {
    const { backend, client, cleanup } = await allocated({ unmended: [NodeTurnDefect.REFRESH_LIFETIME] });
    t.after(cleanup);
    const r = await client.refresh(600);
    assert.equal(r.cls, StunClass.SUCCESS);
    assert.equal(lifetimeOf(r), 0);
    assert.ok(await poll(() => backend.stats().allocations === 0, 5_000, 50));
    assert.equal(errorCodeOf(await client.createPermission({ address: '127.0.0.1', port: 1 })), 437);
  });
});

describe('#2 the requested LIFETIME is ignored', () => {
  test('mended: Allocate with LIFETIME 30 gets 30 (min(requested, turnLifetime))', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: 600 });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(lifetimeOf(await client.allocate([[Attr.LIFETIME, u32(30)]])), 30);
  });

  test('unmended: Allocate with LIFETIME 30 gets the default', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: 600, unmended: [NodeTurnDefect.REQUESTED_LIFETIME] });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal(lifetimeOf(await client.allocate([[Attr.LIFETIME, u32(30)]])), 600);
  });
});

describe('#3 relay sockets are never closed', () => {
  for (const mended of [true, false]) {
    test(`${mended ? 'mended' : 'unmended'}: after expiry and after Refresh 0 the relay port is ${mended ? 'free' : 'still bound'}`, async (t) => {
      const o: BackendOptions = { maxLifetimeSec: 1, ...(mended ? {} : { unmended: [NodeTurnDefect.RELAY_SOCKET_LEAK] }) };
      const { backend, client, cleanup } = await allocated(o);
      const other = await RawTurnClient.open({ address: '127.0.0.1', port: backend.address()!.port });
      t.after(async () => { other.close(); await cleanup(); });
      assert.ok(await poll(() => backend.stats().allocations === 0, 5_000, 50), 'expired');
      assert.equal(await canBind(client.relay!.port), mended);
      assert.equal((await other.allocate()).cls, StunClass.SUCCESS);
      await other.refresh(0);
      assert.equal(backend.stats().allocations, 0);
      assert.equal(backend.stats().relaySockets, mended ? 0 : 2);
      assert.equal(await canBind(other.relay!.port), mended);
    });
  }
});

describe('#4 nonce timers keep the process alive; unauthenticated traffic grows memory', () => {
  test('mended: 200 unauthenticated requests leave no nonce state', async (t) => {
    // the per-source budget of 401s would drop most of them: raised, so that all 200 are answered
    const { backend, server } = await startBackend({ limits: { challengeBurst: 1000 } });
    const flood = await RawTurnClient.open(server, 'nobody', 'x');
    t.after(async () => { flood.close(); await backend.stop(); });
    for (let i = 0; i < 200; i++) {
      const r = await flood.request(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]]);
      assert.equal(errorCodeOf(r), 401);
    }
    assert.equal(backend.stats().engineNonces, 0);
  });

  /**
   * Runs the child fixture (allocates, 50 unauthenticated requests, stop()).
   * Resolves with its output and exit code, or 'still running' `graceMs` after it printed "stopped".
   */
  function runChild(args: string[], graceMs: number): Promise<{ out: string; exit: number | 'still running' }> {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/turn-child.ts', import.meta.url)), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    return new Promise((resolve) => {
      const kill = () => {
        child.kill('SIGKILL');
        resolve({ out, exit: 'still running' });
      };
      let timer = setTimeout(kill, 60_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('stopped')) return;
        clearTimeout(timer);
        timer = setTimeout(kill, graceMs);
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ out, exit: code ?? -1 });
      });
    });
  }

  test('mended: a process that used TURN exits by itself after stop(), holding no nonces', async () => {
    const { out, exit } = await runChild(['backend'], 20_000);
    assert.equal(JSON.parse(out.split('\n')[0]!).engineNonces, 0);
    assert.equal(exit, 0);
  });

  test('unmended: each 401 stored a nonce with a one-hour timer, and the process is still running after stop()', async () => {
    const { out, exit } = await runChild(['backend', NodeTurnDefect.NONCE_TIMERS], 3_000);
    assert.ok(JSON.parse(out.split('\n')[0]!).engineNonces >= 50);
    assert.equal(exit, 'still running');
  });
});

describe('#5 ChannelData from the client is dropped', () => {
  for (const mended of [true, false]) {
    test(`${mended ? 'mended: reaches' : 'unmended: never reaches'} the peer`, async (t) => {
      const { client, cleanup } = await allocated(mended ? {} : { unmended: [NodeTurnDefect.CHANNEL_DATA_DROPPED] });
      const peer = await UdpEndpoint.open();
      t.after(async () => { peer.close(); await cleanup(); });
      assert.equal((await client.channelBind(0x4000, peer.address)).cls, StunClass.SUCCESS);
      client.sendChannelData(0x4000, Buffer.from('via channel'));
      if (mended) assert.equal((await peer.next()).data.toString(), 'via channel');
      else assert.ok(await peer.silent(undefined, 300));
    });
  }
});

describe('#6 ChannelBind success has no MESSAGE-INTEGRITY', () => {
  for (const mended of [true, false]) {
    test(`${mended ? 'mended: a valid' : 'unmended: no'} MESSAGE-INTEGRITY`, async (t) => {
      const { client, cleanup } = await allocated(mended ? {} : { unmended: [NodeTurnDefect.CHANNEL_BIND_INTEGRITY] });
      t.after(cleanup);
      const r = await client.channelBind(0x4000, { address: '127.0.0.1', port: 9 });
      assert.equal(r.cls, StunClass.SUCCESS);
      if (mended) assert.ok(client.integrityValid(r));
      else assert.equal(getAttribute(r, Attr.MESSAGE_INTEGRITY), undefined);
    });
  }
});

describe('#7 unknown comprehension-required attributes are dropped instead of 420', () => {
  /** RFC 5769 2.1 (a Binding request carrying ICE's PRIORITY 0x0024), re-encoded with a fresh transaction id. */
  function sampleWithUnknown(id: Buffer): Buffer {
    return encodeStun(StunMethod.BINDING, StunClass.REQUEST, id, [
      [Attr.SOFTWARE, Buffer.from('STUN test client')],
      [0x0024, Buffer.from('6e0001ff', 'hex')],
      [0x7777, Buffer.from('zz')],
    ], { fingerprint: true });
  }

  test('mended: 420 listing every unknown required attribute; unknown optional ones ignored', async (t) => {
    const { backend, server } = await startBackend();
    const udp = await UdpEndpoint.open();
    const client = await RawTurnClient.open(server);
    t.after(async () => { udp.close(); client.close(); await backend.stop(); });
    const id = newTransactionId();
    udp.send(sampleWithUnknown(id), server);
    const r = decodeStun((await udp.next()).data)!;
    assert.equal(r.cls, StunClass.ERROR);
    assert.ok(r.transactionId.equals(id));
    assert.equal(errorCodeOf(r), 420);
    const unknown = getAttribute(r, Attr.UNKNOWN_ATTRIBUTES)!.value;
    assert.deepEqual([unknown.readUInt16BE(0), unknown.readUInt16BE(2)], [0x0024, 0x7777]);
    // an authenticated Allocate with an unknown comprehension-optional attribute works
    assert.equal((await client.allocate([[0x8777, Buffer.from('optional')]])).cls, StunClass.SUCCESS);
    // an authenticated request with an unknown required one: 420
    assert.equal(errorCodeOf(await client.request(StunMethod.REFRESH, [[0x7777, Buffer.alloc(4)]], { auth: true })), 420);
  });

  test('unmended: no answer at all, even to an unknown optional attribute', async (t) => {
    const { backend, server } = await startBackend({ unmended: [NodeTurnDefect.UNKNOWN_ATTRIBUTES] });
    const udp = await UdpEndpoint.open();
    t.after(async () => { udp.close(); await backend.stop(); });
    udp.send(sampleWithUnknown(newTransactionId()), server);
    assert.ok(await udp.silent(undefined, 300));
    udp.send(encodeStun(StunMethod.BINDING, StunClass.REQUEST, newTransactionId(), [[0x8777, Buffer.from('optional')]]), server);
    assert.ok(await udp.silent(undefined, 300));
  });
});

describe('#8 a second Allocate on the same 5-tuple is not recognised', () => {
  test('mended: a retransmission gets the same relay; a new transaction gets 437; one relay socket', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    const id = newTransactionId();
    const first = await client.allocate([], id);
    assert.equal(first.cls, StunClass.SUCCESS);
    const relay = client.relay;
    const again = await client.allocate([], id); // same transaction id: a retransmission
    assert.equal(again.cls, StunClass.SUCCESS);
    assert.deepEqual(client.relay, relay);
    assert.equal(errorCodeOf(await client.allocate()), 437);
    assert.equal(backend.stats().relaySockets, 1);
  });

  test('unmended: a second allocation replaces the first and its socket leaks', async (t) => {
    const { backend, server } = await startBackend({ unmended: [NodeTurnDefect.ALLOCATE_SAME_5TUPLE] });
    const client = await RawTurnClient.open(server);
    t.after(async () => { client.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    const firstRelay = client.relay!;
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.notDeepEqual(client.relay, firstRelay);
    assert.equal(backend.stats().allocations, 1);
    assert.equal(backend.stats().relaySockets, 2);
    assert.equal(await canBind(firstRelay.port), false);
  });
});

describe('#9 no peer filtering', () => {
  for (const mended of [true, false]) {
    test(`${mended ? 'mended: 403 for' : 'unmended: relays to'} a loopback peer (default policy)`, async (t) => {
      const { client, cleanup } = await allocated({ peers: {}, ...(mended ? {} : { unmended: [NodeTurnDefect.PEER_FILTER] }) });
      const peer = await UdpEndpoint.open();
      t.after(async () => { peer.close(); await cleanup(); });
      const p = await client.createPermission(peer.address);
      if (mended) {
        assert.equal(errorCodeOf(p), 403);
        assert.equal(errorCodeOf(await client.channelBind(0x4000, peer.address)), 403);
        client.sendIndication(peer.address, Buffer.from('ssrf'));
        assert.ok(await peer.silent(undefined, 300));
      } else {
        assert.equal(p.cls, StunClass.SUCCESS);
        client.sendIndication(peer.address, Buffer.from('ssrf'));
        assert.equal((await peer.next()).data.toString(), 'ssrf');
      }
    });
  }
});
