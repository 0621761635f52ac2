/**
 * Hardening, authentication: 401/438 answers within a per-source budget (no
 * amplification), every auth failure counted and logged without secrets,
 * password guessing held back by the server's guess throttle. Real UDP
 * sockets; other sources on other loopback addresses (127.0.0.x).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { GuessThrottle } from '../../src/auth/guess-throttle.js';
import type { AuthGate, GuessLimits } from '../../src/auth/guess-throttle.js';
import { Attr, decodeStun, encodeStun, longTermKey, newTransactionId, StunClass, StunMethod } from '../../src/turn/stun.js';
import type { TransportAddress } from '../../src/turn/stun.js';
import { CountingEvents, errorCodeOf, RawTurnClient, REALM, startBackend, UdpEndpoint } from './helpers.js';

const TRANSPORT_UDP: [number, Buffer] = [Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `count` requests made by `make` from `from`, paced so that the
 * kernel drops none, then listens `settleMs` more. Bytes and answers received.
 */
async function flood(from: UdpEndpoint, server: TransportAddress, count: number, make: () => Buffer, settleMs = 300) {
  let answers = 0;
  let answeredBytes = 0;
  let sentBytes = 0;
  const errorCodes = new Set<number | null>();
  const onMessage = (data: Buffer) => {
    answers++;
    answeredBytes += data.length;
    const m = decodeStun(data);
    if (m) errorCodes.add(errorCodeOf(m));
  };
  from.socket.on('message', onMessage);
  for (let i = 0; i < count; i++) {
    const request = make();
    sentBytes += request.length;
    from.send(request, server);
    if (i % 8 === 7) await sleep(2);
  }
  await sleep(settleMs);
  from.socket.off('message', onMessage);
  return { answers, answeredBytes, sentBytes, ratio: answeredBytes / sentBytes, errorCodes };
}

/** A minimal Allocate: no credentials (28 bytes). */
const minimalAllocate = () => encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [TRANSPORT_UDP]);

/** An Allocate with a made-up nonce and MESSAGE-INTEGRITY (68 bytes): a 438 each. */
const wrongNonceAllocate = () => encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [
  [Attr.USERNAME, Buffer.from('a')], [Attr.REALM, Buffer.from('x')], [Attr.NONCE, Buffer.from('x')],
], { integrityKey: Buffer.alloc(16) });

/** A log destination keeping every line. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, raw: () => raw };
}

/** An AuthGate that counts its calls, over a real GuessThrottle. */
function spyGate(limits: GuessLimits): AuthGate & { admits: number; successes: number } {
  const throttle = new GuessThrottle(limits);
  const gate = {
    admits: 0,
    successes: 0,
    admit(ip: string, username: string) {
      gate.admits++;
      return throttle.admit(ip, username);
    },
    succeeded(ip: string, username: string) {
      gate.successes++;
      throttle.succeeded(ip, username);
    },
  };
  return gate;
}

describe('401/438 answers are rate-limited per source IP', () => {
  test('300 minimal Allocates from one source: a burst of 401s, then silence; amplification under 2x', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ events });
    const attacker = await UdpEndpoint.open();
    t.after(async () => { attacker.close(); await backend.stop(); });
    const r = await flood(attacker, server, 300, minimalAllocate);
    t.diagnostic(`minimal Allocates: ${r.answers} answers, ${r.answeredBytes} bytes for ${r.sentBytes} sent: amplification ${r.ratio.toFixed(2)}x`);
    assert.deepEqual([...r.errorCodes], [401]);
    assert.ok(r.answers <= 16 + 4, `a burst (16) and what refilled meanwhile (4/s): ${r.answers}`); // before: every one (300)
    assert.ok(r.ratio < 2, `amplification ${r.ratio}`); // before: ~3.7x
    assert.ok(events.refusedFor('challenge_rate') >= 280);
  });

  test('300 wrong-nonce requests: a burst of 438s, then silence; amplification under 2x', async (t) => {
    const { backend, server } = await startBackend();
    const attacker = await UdpEndpoint.open();
    t.after(async () => { attacker.close(); await backend.stop(); });
    const r = await flood(attacker, server, 300, wrongNonceAllocate);
    t.diagnostic(`wrong-nonce requests: ${r.answers} answers, ${r.answeredBytes} bytes for ${r.sentBytes} sent: amplification ${r.ratio.toFixed(2)}x`);
    assert.deepEqual([...r.errorCodes], [438]);
    assert.ok(r.answers <= 16 + 4, `${r.answers}`);
    assert.ok(r.ratio < 2, `amplification ${r.ratio}`);
  });

  test('the budget is per source IP and refills: another source is answered at once, the flooder again after a while', async (t) => {
    const { backend, server } = await startBackend({ limits: { challengeBurst: 4, challengePerSecond: 10 } });
    const attacker = await UdpEndpoint.open();
    const neighbour = await RawTurnClient.open(server, 'alice', 'alice-pw', '127.0.0.2');
    t.after(async () => { attacker.close(); neighbour.close(); await backend.stop(); });
    const r = await flood(attacker, server, 100, minimalAllocate, 50);
    assert.ok(r.answers <= 4 + 2, `${r.answers}`);
    assert.equal((await neighbour.allocate()).cls, StunClass.SUCCESS, 'another source: its own budget');
    await sleep(250);
    const later = await flood(attacker, server, 1, minimalAllocate, 200);
    assert.equal(later.answers, 1, 'refilled');
  });

  test('the budget tracks at most challengeMaxSources sources (the least recently seen go first)', async (t) => {
    const { backend, server } = await startBackend({ limits: { challengeMaxSources: 8, challengeBurst: 1, challengePerSecond: 0.001 } });
    const sources = await Promise.all(Array.from({ length: 12 }, (_, i) => UdpEndpoint.open(`127.0.0.${i + 2}`)));
    t.after(async () => { for (const s of sources) s.close(); await backend.stop(); });
    const guard = (backend as unknown as { intake: { guard: { challenges: { size: number } } } }).intake.guard;
    for (const s of sources) assert.equal((await flood(s, server, 2, minimalAllocate, 30)).answers, 1, 'a burst of 1, no refill');
    assert.equal(guard.challenges.size, 8, 'bounded');
    // the first source was forgotten (evicted): it gets a fresh bucket; the last one is still empty
    assert.equal((await flood(sources[0]!, server, 1, minimalAllocate, 50)).answers, 1);
    assert.equal((await flood(sources[11]!, server, 1, minimalAllocate, 50)).answers, 0);
  });
});

describe('TURN auth failures are counted and logged', () => {
  test('a wrong password and an unknown user: counted and logged at info (username, source, reason; no secret); a 401 challenge and a stale nonce are not failures', async (t) => {
    const events = new CountingEvents();
    const log = memoryLogger();
    const { backend, server } = await startBackend({ events, logger: log.logger });
    const wrong = await RawTurnClient.open(server, 'alice', 'not-alices-password');
    const unknown = await RawTurnClient.open(server, 'mallory', 'whatever');
    const stale = await RawTurnClient.open(server);
    t.after(async () => { wrong.close(); unknown.close(); stale.close(); await backend.stop(); });

    assert.equal(errorCodeOf(await stale.request(StunMethod.ALLOCATE, [TRANSPORT_UDP])), 401, 'the challenge');
    stale.nonce = 'f'.repeat(42);
    stale.realm = REALM;
    assert.equal(errorCodeOf(await stale.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true })), 438);
    assert.equal(events.authFailures, 0, 'the handshake is not a failure');

    assert.equal(errorCodeOf(await wrong.allocate()), 401);
    assert.equal(errorCodeOf(await unknown.allocate()), 401);
    assert.equal(events.authFailures, 2);

    const failures = log.lines.filter((l) => l.msg === 'TURN authentication failed');
    assert.deepEqual(failures.map((l) => [l.level, l.user, l.reason, l.from]), [
      [30, 'alice', 'wrong_password', `127.0.0.1:${wrong.udp.address.port}`],
      [30, 'mallory', 'unknown_user', `127.0.0.1:${unknown.udp.address.port}`],
    ]);
    for (const secret of ['not-alices-password', 'alice-pw', wrong.key.toString('hex'), wrong.key.toString('base64')]) {
      assert.ok(!log.raw().includes(secret), `the log holds no secret (${secret})`);
    }
  });

  test('the log is throttled: at most authLogPerSecond lines; the next one says how many were left out', async (t) => {
    const events = new CountingEvents();
    const log = memoryLogger();
    const { backend, server } = await startBackend({ events, logger: log.logger, limits: { authLogPerSecond: 5, challengeBurst: 1000 } });
    const wrong = await RawTurnClient.open(server, 'alice', 'nope');
    t.after(async () => { wrong.close(); await backend.stop(); });
    assert.equal(errorCodeOf(await wrong.allocate()), 401);
    const started = performance.now();
    for (let i = 0; i < 29; i++) assert.equal(errorCodeOf(await wrong.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true })), 401);
    const windows = Math.ceil((performance.now() - started) / 1000) + 1;
    const logged = () => log.lines.filter((l) => l.msg === 'TURN authentication failed');
    assert.equal(events.authFailures, 30, 'every failure is counted');
    assert.ok(logged().length <= 5 * windows, `${logged().length} lines in ${windows} windows`);
    await sleep(1000);
    assert.equal(errorCodeOf(await wrong.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true })), 401);
    const last = logged().at(-1)!;
    assert.equal(last.suppressed, 31 - logged().length, 'every failure is either logged or counted as suppressed');
  });
});

describe('password guessing over TURN goes through the server\'s guess throttle', () => {
  const LIMITS: GuessLimits = { ipBurst: 3, ipPerMinute: 1, userBurst: 100, userPerMinute: 1, trustedMs: 60_000, maxKeys: 100 };

  test('beyond an IP\'s burst, guesses are dropped unanswered and counted as throttled; another IP is not affected', async (t) => {
    const events = new CountingEvents();
    const gate = spyGate(LIMITS);
    const { backend, server } = await startBackend({ events, authGate: gate });
    const guesser = await RawTurnClient.open(server, 'alice', 'guess');
    const alice = await RawTurnClient.open(server, 'alice', 'alice-pw', '127.0.0.2');
    t.after(async () => { guesser.close(); alice.close(); await backend.stop(); });
    assert.equal(errorCodeOf(await guesser.allocate()), 401);
    for (let i = 0; i < 2; i++) assert.equal(errorCodeOf(await guesser.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true })), 401);
    assert.equal(events.authFailures, 3);
    // the 4th guess: dropped, no 401 (no amplification, no answer to learn from)
    await assert.rejects(guesser.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true }), /no matching datagram/);
    assert.equal(events.throttled.ip, 1);
    assert.equal(events.authFailures, 3, 'a refused guess is not checked');
    assert.equal((await alice.allocate()).cls, StunClass.SUCCESS, 'another IP');
    assert.equal(gate.successes, 1);
  });

  test('a username guessed from many IPs is held back too; a success gives its token back; no MI or a stale nonce never asks the gate', async (t) => {
    const events = new CountingEvents();
    const gate = spyGate({ ...LIMITS, ipBurst: 100, userBurst: 3 });
    const { backend, server } = await startBackend({ events, authGate: gate });
    const guessers = await Promise.all([2, 3, 4, 5].map((i) => RawTurnClient.open(server, 'bob', 'guess', `127.0.0.${i}`)));
    const alice = await RawTurnClient.open(server);
    t.after(async () => { for (const g of guessers) g.close(); alice.close(); await backend.stop(); });
    for (const g of guessers.slice(0, 3)) assert.equal(errorCodeOf(await g.allocate()), 401);
    await assert.rejects(guessers[3]!.allocate(), /no matching datagram/);
    assert.equal(events.throttled.username, 1);
    // alice: every authenticated request is admitted and given back (far more than any burst)
    assert.equal((await alice.allocate()).cls, StunClass.SUCCESS);
    for (let i = 0; i < 10; i++) assert.equal((await alice.refresh()).cls, StunClass.SUCCESS);
    // the handshake does not consult the gate
    const admits = gate.admits;
    const handshake = await RawTurnClient.open(server);
    t.after(() => handshake.close());
    assert.equal(errorCodeOf(await handshake.request(StunMethod.ALLOCATE, [TRANSPORT_UDP])), 401);
    handshake.nonce = 'f'.repeat(42);
    handshake.realm = REALM;
    assert.equal(errorCodeOf(await handshake.request(StunMethod.ALLOCATE, [TRANSPORT_UDP], { auth: true })), 438);
    assert.equal(gate.admits, admits);
  });

  test('500 guesses from one IP (before: all checked, ~13,000 a second possible): 3 are checked, the rest dropped unanswered', async (t) => {
    const events = new CountingEvents();
    const { backend, server } = await startBackend({ events, authGate: new GuessThrottle(LIMITS), limits: { challengeBurst: 1000 } });
    const guesser = await RawTurnClient.open(server, 'alice', 'x');
    t.after(async () => { guesser.close(); await backend.stop(); });
    guesser.learn(await guesser.request(StunMethod.ALLOCATE, [TRANSPORT_UDP]));
    let answered = 0;
    guesser.udp.socket.on('message', () => answered++);
    for (let i = 0; i < 500; i++) {
      const password = `guess-${i}`;
      guesser.udp.send(encodeStun(StunMethod.ALLOCATE, StunClass.REQUEST, newTransactionId(), [
        TRANSPORT_UDP, [Attr.USERNAME, Buffer.from('alice')], [Attr.REALM, Buffer.from(REALM)], [Attr.NONCE, Buffer.from(guesser.nonce!)],
      ], { integrityKey: longTermKey('alice', REALM, password) }), server);
      if (i % 8 === 7) await sleep(2);
    }
    await sleep(300);
    assert.equal(events.authFailures, 3, 'checked: the burst');
    assert.equal(events.throttled.ip, 497);
    assert.equal(answered, 3);
  });
});
