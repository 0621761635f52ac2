import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_GUESS_LIMITS, GuessThrottle } from '../../src/auth/guess-throttle.js';
import type { GuessLimits } from '../../src/auth/guess-throttle.js';

function throttle(limits: Partial<GuessLimits> = {}) {
  let now = 0;
  const t = new GuessThrottle({ ...DEFAULT_GUESS_LIMITS, ...limits }, () => now);
  return { t, advance: (ms: number) => void (now += ms) };
}

/** Failed attempts (admitted, never succeeded) until the throttle refuses; bounded. */
function failUntilRefused(t: GuessThrottle, ip: string, username: string, max = 1000): number {
  for (let i = 0; i < max; i++) if (t.admit(ip, username) !== 'ok') return i;
  return max;
}

describe('GuessThrottle', () => {
  test('an IP gets ipBurst failures, then is refused for every username until its bucket refills', () => {
    const { t, advance } = throttle({ ipBurst: 5, ipPerMinute: 6 });
    assert.equal(failUntilRefused(t, '10.0.0.1', 'alice'), 5);
    assert.equal(t.admit('10.0.0.1', 'bob'), 'ip', 'every username from that IP');
    assert.equal(t.admit('10.0.0.2', 'alice'), 'ok', 'other IPs are not affected');
    advance(9_999);
    assert.equal(t.admit('10.0.0.1', 'bob'), 'ip');
    advance(1);
    assert.equal(t.admit('10.0.0.1', 'bob'), 'ok', 'one token per 10 s at 6 per minute');
    assert.equal(t.admit('10.0.0.1', 'bob'), 'ip');
  });

  test('a success gives its tokens back: a user who logs in often is never throttled', () => {
    const { t } = throttle({ ipBurst: 3 });
    for (let i = 0; i < 100; i++) {
      assert.equal(t.admit('10.0.0.1', 'alice'), 'ok');
      t.succeeded('10.0.0.1', 'alice');
    }
  });

  test('many IPs guessing one username empty its bucket; the real user from an IP it used before still gets in', () => {
    const { t } = throttle({ ipBurst: 20, userBurst: 60 });
    assert.equal(t.admit('192.0.2.7', 'alice'), 'ok');
    t.succeeded('192.0.2.7', 'alice'); // alice's own machine
    let refused = 0;
    for (let ip = 1; ip <= 10 && refused === 0; ip++) {
      for (let i = 0; i < 20; i++) if (t.admit(`10.0.0.${ip}`, 'alice') === 'username') refused++;
    }
    assert.ok(refused > 0, 'distributed guessing is throttled by the username bucket');
    assert.equal(t.admit('10.0.0.200', 'alice'), 'username', 'a new IP is refused for that username');
    assert.equal(t.admit('10.0.0.200', 'bob'), 'ok', 'other usernames are not affected');
    assert.equal(t.admit('192.0.2.7', 'alice'), 'ok', 'the IP alice logged in from is trusted');
  });

  test('one IP alone can never lock a username out: its own bucket stops it first', () => {
    const { t, advance } = throttle();
    for (let minute = 0; minute < 30; minute++) {
      failUntilRefused(t, '10.0.0.1', 'alice');
      advance(60_000);
    }
    assert.equal(t.admit('10.0.0.2', 'alice'), 'ok');
  });

  test('its maps are bounded by maxKeys, and full buckets are forgotten', () => {
    const { t, advance } = throttle({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) {
      t.admit(`10.0.${i >> 8}.${i & 255}`, `user${i}`);
      t.succeeded(`10.0.${i >> 8}.${i & 255}`, `user${i}`);
      t.admit(`10.1.${i >> 8}.${i & 255}`, `user${i}`);
    }
    const tracked = t.tracked;
    assert.ok(tracked.ips <= 100 && tracked.usernames <= 100 && tracked.trusted <= 100, JSON.stringify(tracked));
    advance(3600_000);
    t.admit('10.9.9.9', 'x'); // touching refills only the keys it reads; the bound above is what matters
    assert.ok(t.tracked.ips <= 100);
  });
});

describe('GuessThrottle forgets with time, not only at the cap', () => {
  test('a success leaves nothing behind; refilled buckets are forgotten as new ones come', () => {
    const { t, advance } = throttle();
    for (let i = 0; i < 50; i++) {
      assert.equal(t.admit(`10.0.0.${i}`, `user${i}`), 'ok');
      t.succeeded(`10.0.0.${i}`, `user${i}`);
    }
    assert.deepEqual({ ips: t.tracked.ips, usernames: t.tracked.usernames }, { ips: 0, usernames: 0 }, 'full buckets are not kept');
    for (let i = 0; i < 200; i++) t.admit(`10.1.0.${i}`, `guess${i}`); // 200 one-off failures
    assert.equal(t.tracked.ips, 200);
    advance(3600_000); // every bucket has refilled
    for (let i = 0; i < 200; i++) t.admit(`10.2.0.${i}`, `other${i}`);
    assert.ok(t.tracked.ips <= 210, `old buckets forgotten as new ones arrive (${t.tracked.ips} left)`);
  });
});
