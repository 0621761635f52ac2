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

describe('TurnCredentialCache#rememberLogin', () => {
  test('signaling\'s login: the room name, the default TTL, a REST username capped at its expiry', () => {
    let mono = 0;
    const cache = new TurnCredentialCache({ now: () => mono, wallClock: () => 5_000_000 });
    cache.rememberLogin('alice', 'pw', 'Alice');
    cache.rememberLogin('5060:bob', 'pw2', 'bob');
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
