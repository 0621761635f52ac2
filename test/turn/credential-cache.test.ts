/** src/turn/credential-cache.ts and credentials.ts: the password cache and async lookups. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnCredentialCache } from '../../src/turn/credential-cache.js';
import { TurnCredentials } from '../../src/turn/credentials.js';

describe('TurnCredentialCache', () => {
  test('remember, expire, forget, bounded size', () => {
    let now = 0;
    const cache = new TurnCredentialCache({ maxEntries: 2, now: () => now });
    cache.remember('a', 'pa', 1000);
    cache.rememberMissing('b', 1000);
    assert.deepEqual(cache.lookup('a'), { password: 'pa', name: 'a' });
    assert.equal(cache.lookup('b'), null);
    assert.equal(cache.lookup('c'), undefined);
    cache.remember('c', 'pc', 1000, 'Carol');
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup('a'), undefined); // oldest evicted
    now = 1000;
    assert.equal(cache.lookup('c'), undefined); // expired
    cache.remember('d', 'pd', 1000);
    cache.forget('d');
    assert.equal(cache.lookup('d'), undefined);
  });
});

describe('TurnCredentialCache#loggedIn', () => {
  test('signaling\'s login: the room name, the default TTL, a REST username capped at its expiry', () => {
    let mono = 0;
    const cache = new TurnCredentialCache({ now: () => mono, wallClock: () => 5_000_000 });
    cache.loggedIn('alice', 'pw', 'Alice');
    cache.loggedIn('5060:bob', 'pw2', 'bob');
    assert.deepEqual(cache.lookup('alice'), { password: 'pw', name: 'Alice' });
    mono += 60_001;
    assert.equal(cache.lookup('5060:bob'), undefined);
    assert.ok(cache.lookup('alice'));
    mono += 10 * 60_000;
    assert.equal(cache.lookup('alice'), undefined);
  });
});

describe('TurnCredentials', () => {
  test('one lookup per user in flight, bounded; misses remembered briefly; REST entries not cached past expiry', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const auth = {
      async passwordFor(u: string) {
        calls++;
        await gate;
        return u.startsWith('x') ? null : { password: `${u}-pw`, name: u };
      },
    };
    let mono = 0;
    const cache = new TurnCredentialCache({ wallClock: () => 1_000_000, now: () => mono });
    const creds = new TurnCredentials(cache, auth, { maxPending: 2 });
    const p1 = creds.fetch('alice');
    const p2 = creds.fetch('alice');
    assert.ok(p1 instanceof Promise);
    assert.equal(p1, p2);
    assert.ok(creds.fetch('xavier') instanceof Promise);
    assert.equal(creds.fetch('bob'), 'busy');
    release();
    await p1;
    await new Promise((r) => setImmediate(r));
    assert.equal(creds.fetch('alice'), null);
    assert.equal(creds.peek('xavier'), null);
    assert.equal(calls, 2);
    // "<expiry>:<user>" expiring in 2 s is cached at most 2 s
    const rest = `${1_000_000 / 1000 + 2}:zed`;
    await creds.fetch(rest);
    assert.ok(cache.lookup(rest));
    mono += 2001;
    assert.equal(cache.lookup(rest), undefined, 'gone at its expiry, not after the usual TTL');
    const expired = `${1_000_000 / 1000 - 1}:zed`;
    await creds.fetch(expired);
    assert.equal(cache.lookup(expired), undefined, 'an expired REST username is not cached at all');
  });
});

describe('TurnCredentials: deadlines and caps (a hung auth backend cannot take TURN down)', () => {
  /** An authenticator that never answers for names starting with "x", and answers the others when told. */
  function hangingAuth() {
    const answers: (() => void)[] = [];
    return {
      calls: 0,
      answers,
      passwordFor(u: string) {
        this.calls++;
        if (u.startsWith('x')) return new Promise<null>(() => {});
        return new Promise<{ password: string; name: string }>((resolve) => answers.push(() => resolve({ password: `${u}-pw`, name: u })));
      },
    };
  }

  test('a lookup past its deadline frees its slot, caches nothing and resolves false; a late answer is still cached', async () => {
    const auth = hangingAuth();
    const cache = new TurnCredentialCache();
    const creds = new TurnCredentials(cache, auth, { timeoutMs: 50, maxPending: 1 });
    const hung = creds.fetch('xavier', '10.0.0.1');
    assert.ok(hung instanceof Promise);
    assert.equal(creds.fetch('yann', '10.0.0.2'), 'busy', 'the only slot is taken');
    assert.equal(await hung, false, 'the deadline passed');
    assert.equal(creds.pendingLookups, 0);
    assert.equal(creds.pendingSources, 0);
    assert.equal(creds.timedOut, 1);
    assert.equal(cache.lookup('xavier'), undefined, 'not marked missing');
    // the slot is free again; a slow answer that comes after its deadline is cached all the same
    const slow = creds.fetch('bob', '10.0.0.2');
    assert.ok(slow instanceof Promise);
    assert.equal(await slow, false);
    auth.answers[0]!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(cache.lookup('bob'), { password: 'bob-pw', name: 'bob' });
    assert.equal(creds.fetch('bob', '10.0.0.2'), null);
  });

  test('an answer in time resolves true and clears its timer', async () => {
    const auth = hangingAuth();
    const creds = new TurnCredentials(new TurnCredentialCache(), auth, { timeoutMs: 60_000 });
    const p = creds.fetch('alice', '10.0.0.1');
    auth.answers[0]!();
    assert.equal(await p, true);
    assert.equal(creds.pendingLookups, 0);
    assert.equal(creds.timedOut, 0);
  });

  test('one source IP gets at most maxPendingPerSource lookups; others still get theirs', async () => {
    const auth = hangingAuth();
    const creds = new TurnCredentials(new TurnCredentialCache(), auth, { timeoutMs: 60_000, maxPending: 256, maxPendingPerSource: 16 });
    let refused = 0;
    for (let i = 0; i < 300; i++) if (creds.fetch(`x${i}`, '10.0.0.66') === 'busy') refused++;
    assert.equal(creds.pendingLookups, 16);
    assert.equal(refused, 284);
    assert.ok(creds.fetch('x-other', '10.0.0.7') instanceof Promise, 'another source is not affected');
    assert.ok(creds.fetch('x1', '10.0.0.7') instanceof Promise, 'a lookup in flight can be waited on from anywhere');
    assert.equal(auth.calls, 17);
    creds.close();
    assert.equal(creds.pendingLookups, 0);
    assert.equal(creds.pendingSources, 0);
  });

  test('at most maxPending lookups in all, and maxHeldPerLookup requests held on one', async () => {
    const auth = hangingAuth();
    const creds = new TurnCredentials(new TurnCredentialCache(), auth, { timeoutMs: 60_000, maxPending: 4, maxPendingPerSource: 100, maxHeldPerLookup: 3 });
    for (let i = 0; i < 4; i++) assert.ok(creds.fetch(`x${i}`, `10.0.0.${i}`) instanceof Promise);
    assert.equal(creds.fetch('x9', '10.0.0.9'), 'busy');
    assert.ok(creds.fetch('x0', '10.0.0.1') instanceof Promise);
    assert.ok(creds.fetch('x0', '10.0.0.2') instanceof Promise);
    assert.equal(creds.fetch('x0', '10.0.0.3'), 'busy', 'a fourth request held on one lookup');
    const held = creds.fetch('x1', '10.0.0.1') as Promise<boolean>;
    creds.close();
    assert.equal(await held, false, 'closing drops held requests');
    assert.equal(creds.pendingLookups, 0);
  });
});

describe('TurnCredentialCache forgets expired entries with time, not only at the cap', () => {
  test('made-up names remembered as missing go once expired, as new ones arrive', () => {
    let now = 0;
    const cache = new TurnCredentialCache({ now: () => now, maxEntries: 10_000 });
    for (let i = 0; i < 1000; i++) cache.rememberMissing(`madeup${i}`, 5_000);
    assert.equal(cache.size, 1000);
    now += 6_000;
    for (let i = 0; i < 1000; i++) cache.rememberMissing(`later${i}`, 5_000);
    assert.ok(cache.size < 1100, `expired entries dropped while inserting (${cache.size} held)`);
  });
});
