/**
 * A real TURN client from npm (werift-ice's `createTurnClient`) against our
 * backend: allocate, ChannelBind + ChannelData both ways to a UDP peer, two
 * relayed clients talking relay to relay, refresh keeping a short allocation
 * alive, and 401 for a wrong password. werift verifies MESSAGE-INTEGRITY on
 * every response, so each success here is an authenticated one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTurnClient, TurnProtocol } from 'werift-ice';
import { UdpTransport } from 'werift-ice/lib/common/src/transport.js';
import { startBackend, TURN_USERS, UdpEndpoint } from './helpers.js';

type Addr = readonly [string, number];

/** werift's refresh loop sleeps 5/6 of the lifetime: keep lifetimes short so closed clients let the process exit. */
const LIFETIME = 2;

async function turnClient(port: number, username = 'alice', password = TURN_USERS[username]!): Promise<TurnProtocol> {
  return createTurnClient({ address: ['127.0.0.1', port], username, password }, { lifetime: LIFETIME });
}

/** The next datagram werift hands up, as [text, from]. */
function nextData(turn: TurnProtocol, timeoutMs = 3000): Promise<[string, Addr]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`no data within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = turn.onData.subscribe((data, addr) => {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve([data.toString(), addr]);
    });
  });
}

describe('werift-ice TURN client', () => {
  test('allocates a relay on 127.0.0.1 with the granted lifetime', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: LIFETIME });
    const turn = await turnClient(server.port);
    t.after(async () => { await turn.close(); await backend.stop(); });
    assert.equal(turn.relayedAddress[0], '127.0.0.1');
    assert.ok(turn.relayedAddress[1] >= 49152);
    assert.equal(backend.stats().allocations, 1);
  });

  test('ChannelBind then ChannelData both ways with a UDP peer', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: LIFETIME });
    const turn = await turnClient(server.port);
    const peer = await UdpEndpoint.open();
    t.after(async () => { peer.close(); await turn.close(); await backend.stop(); });
    await turn.sendData(Buffer.from('to peer'), [peer.address.address, peer.address.port]);
    const got = await peer.next();
    assert.equal(got.data.toString(), 'to peer');
    assert.deepEqual([got.from.address, got.from.port], [...turn.relayedAddress]);
    // werift used a channel (it falls back to Send only when ChannelBind fails)
    assert.ok(await turn.getChannel([peer.address.address, peer.address.port]));

    const back = nextData(turn);
    peer.send(Buffer.from('to client'), { address: turn.relayedAddress[0], port: turn.relayedAddress[1] });
    const [text, from] = await back;
    assert.equal(text, 'to client');
    assert.deepEqual([...from], [peer.address.address, peer.address.port]);
  });

  test('two relayed clients talk relay to relay', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: LIFETIME });
    const alice = await turnClient(server.port, 'alice');
    const bob = await turnClient(server.port, 'bob');
    t.after(async () => { await alice.close(); await bob.close(); await backend.stop(); });
    // bob permits alice's relay first (ICE does this by sending checks both ways)
    await bob.getPermission(alice.relayedAddress);
    const atBob = nextData(bob);
    await alice.sendData(Buffer.from('hi bob'), bob.relayedAddress);
    assert.equal((await atBob)[0], 'hi bob');
    const atAlice = nextData(alice);
    await bob.sendData(Buffer.from('hi alice'), alice.relayedAddress);
    assert.equal((await atAlice)[0], 'hi alice');
  });

  test('refresh keeps a short allocation alive past several lifetimes', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: LIFETIME });
    const turn = await turnClient(server.port);
    const peer = await UdpEndpoint.open();
    t.after(async () => { peer.close(); await turn.close(); await backend.stop(); });
    await turn.sendData(Buffer.from('before'), [peer.address.address, peer.address.port]);
    assert.equal((await peer.next()).data.toString(), 'before');
    // three lifetimes: without working refreshes the allocation would be gone
    await new Promise((r) => setTimeout(r, 3 * LIFETIME * 1000));
    assert.equal(backend.stats().allocations, 1);
    await turn.sendData(Buffer.from('after'), [peer.address.address, peer.address.port]);
    assert.equal((await peer.next()).data.toString(), 'after');
  });

  test('a wrong password gets no allocation', async (t) => {
    const { backend, server } = await startBackend({ maxLifetimeSec: LIFETIME });
    // built by hand (what createTurnClient does) so the socket can be closed after the failure
    const turn = new TurnProtocol(['127.0.0.1', server.port], 'alice', 'wrong', LIFETIME, await UdpTransport.init('udp4'));
    t.after(async () => { await turn.close(); await backend.stop(); });
    // our 401 to a wrong MESSAGE-INTEGRITY cannot carry one; werift then drops it and times out
    await assert.rejects(turn.connectionMade());
    assert.equal(backend.stats().allocations, 0);
  });
});
