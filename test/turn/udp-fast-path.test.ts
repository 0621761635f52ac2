/**
 * The UDP data path's shortcuts (issue 13, relayed packets per CPU-second):
 * ChannelData found by the client's address and port (udp-clients.ts) and
 * the peer's channel remembered per allocation. Over real sockets: the
 * index follows allocations as they end and are made again on the same
 * 5-tuple, and one allocation with two channels answers each peer on its own.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StunClass } from '../../src/turn/stun.js';
import { UdpClients } from '../../src/turn/udp-clients.js';
import type { RelayAllocation } from '../../src/turn/relay-allocation.js';
import { errorCodeOf, RawTurnClient, startBackend, UdpEndpoint } from './helpers.js';

describe('UdpClients', () => {
  const fake = (fiveTuple: string): RelayAllocation => ({ fiveTuple }) as RelayAllocation;

  test('holds one entry per live client; an ended allocation removes only its own entry', () => {
    const clients = new UdpClients();
    const a = fake('UDP://10.0.0.1:1000>x');
    const b = fake('UDP://10.0.0.1:1001>x');
    const a2 = fake('UDP://10.0.0.1:1000>x');
    const table: Record<string, unknown> = { [a.fiveTuple]: a, [b.fiveTuple]: b };
    clients.add('10.0.0.1', 1000, a);
    clients.add('10.0.0.1', 1001, b);
    assert.equal(clients.size, 2);
    assert.equal(clients.live('10.0.0.1', 1000, table), a);
    assert.equal(clients.live('10.0.0.1', 1002, table), undefined);
    assert.equal(clients.live('10.0.0.2', 1000, table), undefined);
    // a newer allocation on the same client replaces the entry; the old one's end leaves it
    clients.add('10.0.0.1', 1000, a2);
    assert.equal(clients.size, 2);
    clients.remove('10.0.0.1', 1000, a);
    assert.equal(clients.size, 2);
    // node-turn's table is the authority: an entry it no longer holds is not live
    assert.equal(clients.live('10.0.0.1', 1000, table), undefined);
    table[a2.fiveTuple] = a2;
    assert.equal(clients.live('10.0.0.1', 1000, table), a2);
    clients.remove('10.0.0.1', 1000, a2);
    clients.remove('10.0.0.1', 1001, b);
    assert.equal(clients.size, 0);
  });
});

describe('UDP ChannelData by client address', () => {
  test('an allocation deleted by Refresh 0 relays nothing more; a new one on the same 5-tuple relays from its new relay port', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const peer = await UdpEndpoint.open();
    t.after(async () => { client.close(); peer.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    const first = client.relay!;
    assert.equal((await client.channelBind(0x4001, peer.address)).cls, StunClass.SUCCESS);
    client.sendChannelData(0x4001, Buffer.from('one'));
    const got = await peer.next();
    assert.equal(got.data.toString(), 'one');
    assert.equal(got.from.port, first.port);

    assert.equal((await client.refresh(0)).cls, StunClass.SUCCESS);
    assert.equal(backend.stats().allocations, 0);
    client.sendChannelData(0x4001, Buffer.from('after the end'));
    assert.ok(await peer.silent(undefined, 300), 'no allocation: ChannelData dropped');

    const again = await client.allocate();
    assert.equal(again.cls, StunClass.SUCCESS, `error ${errorCodeOf(again)}`);
    assert.notDeepEqual(client.relay, first);
    client.sendChannelData(0x4001, Buffer.from('unbound on the new allocation'));
    assert.ok(await peer.silent(undefined, 300), 'the old channel did not carry over');
    assert.equal((await client.channelBind(0x4001, peer.address)).cls, StunClass.SUCCESS);
    client.sendChannelData(0x4001, Buffer.from('two'));
    const got2 = await peer.next();
    assert.equal(got2.data.toString(), 'two');
    assert.equal(got2.from.port, client.relay!.port);
    peer.send(Buffer.from('back'), client.relay!);
    assert.deepEqual(await client.nextChannelData(), { channel: 0x4001, data: Buffer.from('back') });
  });

  test('two channels on one allocation: each peer answered on its own channel, alternating', async (t) => {
    const { backend, server } = await startBackend();
    const client = await RawTurnClient.open(server);
    const p1 = await UdpEndpoint.open();
    const p2 = await UdpEndpoint.open();
    t.after(async () => { client.close(); p1.close(); p2.close(); await backend.stop(); });
    assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
    assert.equal((await client.channelBind(0x4001, p1.address)).cls, StunClass.SUCCESS);
    assert.equal((await client.channelBind(0x4002, p2.address)).cls, StunClass.SUCCESS);
    for (const [peer, channel] of [[p1, 0x4001], [p2, 0x4002], [p2, 0x4002], [p1, 0x4001], [p2, 0x4002]] as const) {
      peer.send(Buffer.from(`from ${channel}`), client.relay!);
      assert.deepEqual(await client.nextChannelData(), { channel, data: Buffer.from(`from ${channel}`) });
    }
    // and a peer with a permission but no channel gets a Data indication
    const p3 = await UdpEndpoint.open();
    t.after(() => p3.close());
    assert.equal((await client.createPermission(p3.address)).cls, StunClass.SUCCESS);
    p3.send(Buffer.from('no channel'), client.relay!);
    assert.equal((await client.nextDataIndication()).data.toString(), 'no channel');
  });
});
