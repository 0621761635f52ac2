/**
 * Hardening, credential lookups: an `auth` backend that hangs for made-up
 * usernames must not take TURN down. Every lookup has a deadline (2 s by
 * default) that frees its slot, and one source IP holds at most 16 slots.
 * Real UDP sockets; attackers on other loopback addresses (127.0.0.x).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Authenticator } from '../../src/auth/authenticator.js';
import { Attr, decodeStun, encodeStun, longTermKey, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';
import type { TransportAddress } from '../../src/turn/stun.js';
import { CountingEvents, errorCodeOf, RawTurnClient, REALM, startBackend, TURN_USERS } from './helpers.js';
import { poll } from '../helpers/wait.js';

const TRANSPORT_UDP: [number, Buffer] = [Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])];

/** Answers the real users at once; hangs forever for any other name (an auth backend stuck on unknown users). */
function hangingForMadeUpNames(): Pick<Authenticator, 'passwordFor'> & { calls: number } {
  const auth = {
    calls: 0,
    passwordFor(username: string) {
      auth.calls++;
      if (!Object.hasOwn(TURN_USERS, username)) return new Promise<null>(() => {});
      return Promise.resolve({ password: TURN_USERS[username]!, name: username });
    },
  };
  return auth;
}

/**
 * From `host`: one 401 to learn a nonce, then `count` authenticated Allocates
 * (valid nonce, MESSAGE-INTEGRITY) with made-up usernames, each needing a lookup.
 */
async function madeUpAllocates(server: TransportAddress, host: string, count: number, tag: string): Promise<RawTurnClient> {
  const attacker = await RawTurnClient.open(server, 'nobody', 'x', host);
  attacker.learn(await attacker.request(StunMethod.ALLOCATE, [TRANSPORT_UDP]));
  assert.ok(attacker.nonce, 'a nonce from the first 401');
  for (let i = 0; i < count; i++) {
    const username = `${tag}-made-up-${i}`;
    attacker.udp.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [
      TRANSPORT_UDP,
      [Attr.USERNAME, Buffer.from(username)],
      [Attr.REALM, Buffer.from(REALM)],
      [Attr.NONCE, Buffer.from(attacker.nonce!)],
    ], { integrityKey: longTermKey(username, REALM, 'guess'), fingerprint: true }), server);
    if (i % 8 === 7) await new Promise((r) => setTimeout(r, 2)); // paced: the kernel must not drop them
  }
  return attacker;
}

/**
 * The real user's Allocate as a client sends it: the 401 first, then the
 * authenticated request retransmitted every 500 ms (RFC 8489 section 6.2.1
 * uses a growing interval; a fixed one keeps the test short) until answered
 * or `withinMs`. Resolves with the answer and how long it took.
 */
async function allocateRetransmitting(client: RawTurnClient, withinMs: number): Promise<{ answer: ReturnType<typeof decodeStun>; ms: number }> {
  client.learn(await client.request(StunMethod.ALLOCATE, [TRANSPORT_UDP]));
  const id = newTransactionId();
  const request = encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, id, [
    TRANSPORT_UDP,
    [Attr.USERNAME, Buffer.from(client.username)],
    [Attr.REALM, Buffer.from(client.realm!)],
    [Attr.NONCE, Buffer.from(client.nonce!)],
  ], { integrityKey: client.key, fingerprint: true });
  const started = performance.now();
  while (performance.now() - started < withinMs) {
    client.udp.send(request, client.server);
    try {
      const { data } = await client.udp.next((d) => decodeStun(d.data)?.transactionId.equals(id) === true, 500);
      return { answer: decodeStun(data), ms: performance.now() - started };
    } catch {
      // not answered yet: retransmit
    }
  }
  return { answer: null, ms: performance.now() - started };
}

describe('credential lookups under a hung auth backend', () => {
  test('320 made-up Allocates from 20 sources fill every lookup slot; after the 2 s deadline the real user gets in and no lookup is left', async (t) => {
    const events = new CountingEvents();
    const { backend, server, cache } = await startBackend({ authenticator: hangingForMadeUpNames(), events });
    const attackers: RawTurnClient[] = [];
    const alice = await RawTurnClient.open(server);
    t.after(async () => { for (const a of attackers) a.close(); alice.close(); await backend.stop(); });
    for (let i = 0; i < 20; i++) attackers.push(await madeUpAllocates(server, `127.0.0.${i + 2}`, 16, `s${i}`));
    assert.ok(await poll(() => backend.stats().pendingAuthLookups === 256, 1000, 25), `every slot taken: ${backend.stats().pendingAuthLookups}`);

    const { answer, ms } = await allocateRetransmitting(alice, 8_000);
    assert.ok(answer, 'the real user\'s Allocate is answered (before: never, the hung lookups held every slot for good)');
    assert.equal(answer.cls, StunClass.SUCCESS, `error ${errorCodeOf(answer)}`);
    t.diagnostic(`real user's Allocate answered after ${Math.round(ms)} ms (lookup deadline 2000 ms)`);
    assert.ok(ms < 4_000, `answered in ${ms} ms`);
    assert.ok(await poll(() => backend.stats().pendingAuthLookups === 0, 3000, 50), 'every hung lookup gave its slot back');
    assert.ok(events.refusedFor('lookup_timeout') >= 256, `held requests dropped at the deadline: ${events.refusedFor('lookup_timeout')}`);
    assert.ok(events.refusedFor('lookup_busy') >= 64, `requests with no slot dropped: ${events.refusedFor('lookup_busy')}`);
    // nothing was cached for the made-up names (a timeout is not "no such user"): a later request asks again
    assert.equal(cache.lookup('s0-made-up-0'), undefined);
    assert.deepEqual(cache.lookup('alice'), { password: 'alice-pw', name: 'alice' });
    assert.equal(backend.stats().allocations, 1);
  });

  test('one source cannot take every slot: 300 made-up Allocates from one IP hold 16 lookups; the real user is answered at once', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ authenticator: hangingForMadeUpNames(), events });
    const alice = await RawTurnClient.open(server);
    let attacker: RawTurnClient | undefined;
    t.after(async () => { attacker?.close(); alice.close(); await backend.stop(); });
    attacker = await madeUpAllocates(server, '127.0.0.2', 300, 'one');
    assert.ok(await poll(() => events.refusedFor('lookup_busy') + backend.stats().pendingAuthLookups >= 300, 1000, 25));
    assert.equal(backend.stats().pendingAuthLookups, 16, 'the per-source cap');
    const started = performance.now();
    const r = await alice.allocate(); // no retransmission: the first try must be answered
    assert.equal(r.cls, StunClass.SUCCESS, `error ${errorCodeOf(r)}`);
    t.diagnostic(`real user's Allocate answered in ${Math.round(performance.now() - started)} ms while 16 lookups hang`);
  });
});
