/**
 * TURN over TCP and TLS (RFC 8656 section 5) on the backend: the client's
 * transport is one stream, framed (section 12.5, ChannelData padded), relays
 * stay UDP. The same authentication, nonces, peer filtering and limits as
 * over UDP; one stream is one 5-tuple, so one allocation, which ends when
 * the stream closes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCert } from '../helpers/fixtures.js';
import { poll } from '../helpers/wait.js';
import { Attr, decodeXorAddress, getAttribute, StunClass, StunMethod } from '../../src/turn/stun.js';
import { CountingEvents, errorCodeOf, RawTurnClient, startBackend, UdpEndpoint } from './helpers.js';
import type { BackendOptions } from './helpers.js';

let tls: { cert: Buffer; key: Buffer };
let certDir: string;
before(() => {
  certDir = mkdtempSync(join(tmpdir(), 'turn-stream-'));
  const { certfile, keyfile } = makeCert(certDir);
  tls = { cert: readFileSync(certfile), key: readFileSync(keyfile) };
});
after(() => rmSync(certDir, { recursive: true, force: true }));

async function backendWithStreams(o: BackendOptions = {}) {
  const started = await startBackend({ tcp: true, tls, ...o });
  const addresses = started.backend.addresses()!;
  return {
    ...started,
    tcp: { address: addresses.tcp!.host, port: addresses.tcp!.port },
    tls: { address: addresses.tls!.host, port: addresses.tls!.port },
  };
}

for (const kind of ['tcp', 'tls'] as const) {
  describe(`TURN over ${kind.toUpperCase()}`, () => {
    test('TCP listens on the UDP port number; TLS on its own', async (t) => {
      const s = await backendWithStreams();
      t.after(() => s.backend.stop());
      const a = s.backend.addresses()!;
      assert.equal(a.tcp!.port, a.udp.port);
      assert.notEqual(a.tls!.port, a.udp.port);
    });

    test('Binding, Allocate, Send/Data, ChannelBind and padded ChannelData both ways, Refresh', async (t) => {
      const s = await backendWithStreams();
      const client = await RawTurnClient.openStream(s[kind], kind);
      const peer = await UdpEndpoint.open();
      t.after(async () => { client.close(); peer.close(); await s.backend.stop(); });

      const binding = await client.request(StunMethod.BINDING, []);
      assert.equal(binding.cls, StunClass.SUCCESS);
      const mapped = decodeXorAddress(getAttribute(binding, Attr.XOR_MAPPED_ADDRESS)!.value, binding.transactionId)!;
      assert.deepEqual({ address: mapped.address, port: mapped.port }, client.udp.address, 'the stream\'s own address');

      const allocated = await client.allocate();
      assert.equal(allocated.cls, StunClass.SUCCESS, `allocate: ${errorCodeOf(allocated)}`);
      assert.ok(client.integrityValid(allocated));
      assert.equal(s.backend.stats().allocations, 1);
      assert.equal((await client.createPermission(peer.address)).cls, StunClass.SUCCESS);

      client.sendIndication(peer.address, Buffer.from('via send'));
      const got = await peer.next();
      assert.equal(got.data.toString(), 'via send');
      assert.equal(got.from.port, client.relay!.port);
      peer.send(Buffer.from('via data'), client.relay!);
      assert.equal((await client.nextDataIndication()).data.toString(), 'via data');

      assert.equal((await client.channelBind(0x4001, peer.address)).cls, StunClass.SUCCESS);
      for (const text of ['a', 'ab', 'abc', 'abcd', 'abcde']) {
        client.sendChannelData(0x4001, Buffer.from(text)); // padded by encodeChannelData, as the stream requires
        assert.equal((await peer.next()).data.toString(), text);
        peer.send(Buffer.from(text), client.relay!);
        const back = await client.udp.next((d) => d.data[0] === 0x40);
        assert.equal(back.data.length % 4, 0, 'ChannelData is padded to 4 bytes on a stream');
        assert.equal(back.data.readUInt16BE(2), text.length);
        assert.equal(back.data.subarray(4, 4 + text.length).toString(), text);
      }
      assert.equal((await client.refresh(300)).cls, StunClass.SUCCESS);
    });

    test('one stream, one allocation: a second Allocate gets 437; closing the stream ends the allocation and frees its relay', async (t) => {
      const s = await backendWithStreams();
      t.after(() => s.backend.stop());
      const client = await RawTurnClient.openStream(s[kind], kind);
      assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
      assert.equal(errorCodeOf(await client.allocate()), 437);
      assert.equal(s.backend.stats().allocations, 1);
      assert.equal(s.backend.stats().relaySockets, 1);
      client.close();
      assert.ok(await poll(() => s.backend.stats().allocations === 0 && s.backend.stats().relaySockets === 0 && s.backend.stats().streams === 0, 2000, 20));
    });

    test('a wrong password gets 401 and no allocation; a loopback peer gets 403 by default', async (t) => {
      const events = new CountingEvents();
      const s = await backendWithStreams({ peers: {}, events });
      t.after(() => s.backend.stop());
      const wrong = await RawTurnClient.openStream(s[kind], kind, 'alice', 'wrong');
      t.after(() => wrong.close());
      assert.equal(errorCodeOf(await wrong.allocate()), 401);
      assert.equal(events.authFailures, 1);
      const client = await RawTurnClient.openStream(s[kind], kind);
      t.after(() => client.close());
      assert.equal((await client.allocate()).cls, StunClass.SUCCESS);
      assert.equal(errorCodeOf(await client.createPermission({ address: '127.0.0.1', port: 9 })), 403);
      assert.equal(errorCodeOf(await client.channelBind(0x4000, { address: '127.0.0.1', port: 9 })), 403);
    });
  });
}
