import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { DEFAULTS, OPTION_NAMES, parseOptions, sharesTlsPort } from '../../src/options.js';
import { ErrorCode, ServerError } from '../../src/errors.js';
import { coerce, envName, kebab, optionsFromEnv } from '../../src/config.js';

const AUTH = { auth: { users: { alice: 'pw' } } };

/** Asserts `fn` throws INVALID_OPTION naming `option` (in `.option` and in the message). */
function throwsFor(fn: () => unknown, option: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ServerError, `ServerError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode.INVALID_OPTION);
    assert.equal(err.option, option);
    assert.ok(err.message.includes(`"${option}"`), `message names ${option}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('parseOptions defaults', () => {
  test('dev mode (no auth): every default, host 127.0.0.1', () => {
    const o = parseOptions({});
    assert.deepEqual({ ...o }, {
      host: '127.0.0.1',
      port: 8080,
      tls: null,
      hostname: hostname(),
      turnIp: null,
      turnPort: 3478,
      turnTcp: true,
      turnTlsPort: null,
      relayPorts: [49152, 65535],
      idleTimeout: 60_000,
      authTimeout: 5_000,
      auth: null,
      callbacks: null,
      maxMessageBytes: 65_536,
      maxAuthAttempts: 5,
      rateLimit: { perSecond: 100, burst: 400, abuseSeconds: 10 },
      allowedOrigins: null,
      maxConnections: 20_000,
      maxConnectionsPerIp: 200,
      handshakeTimeout: 10_000,
      metricsPort: null,
      redisUrl: null,
      allowLoopbackPeers: false,
      turnAllowedPeers: [],
      turnDeniedPeers: [],
      turnMaxAllocationsPerUser: 32,
      turnMaxAllocations: 1000,
      turnLifetime: 600,
      turnThreads: 'auto',
      adminToken: null,
      inspect: null,
      logLevel: 'info',
      logFormat: null,
      example: true,
      dev: true,
    });
  });

  test('undefined and null mean {}', () => {
    assert.deepEqual({ ...parseOptions(undefined) }, { ...parseOptions({}) });
    assert.deepEqual({ ...parseOptions(null) }, { ...parseOptions({}) });
  });

  test('with auth: not dev mode, host 0.0.0.0', () => {
    const o = parseOptions(AUTH);
    assert.equal(o.dev, false);
    assert.equal(o.host, '0.0.0.0');
    assert.deepEqual(o.auth, AUTH.auth);
  });

  test('TLS: certfile + keyfile → tls set and default port 8443; an explicit port wins', () => {
    const o = parseOptions({ ...AUTH, certfile: 'c.pem', keyfile: 'k.pem' });
    assert.deepEqual(o.tls, { certfile: 'c.pem', keyfile: 'k.pem' });
    assert.equal(o.port, 8443);
    assert.equal(DEFAULTS.tlsPort, 8443);
    assert.equal(parseOptions({ ...AUTH, certfile: 'c.pem', keyfile: 'k.pem', port: 9000 }).port, 9000);
    assert.equal(parseOptions({ ...AUTH, certfile: 'c.pem', keyfile: 'k.pem', port: 0 }).port, 0);
  });

  test('explicit values are kept', () => {
    const o = parseOptions({
      ...AUTH,
      host: '10.0.0.1',
      port: 0,
      hostname: 'example.org',
      turnIp: '192.0.2.1',
      turnPort: false,
      relayPorts: [50000, 50010],
      idleTimeout: 'infinity',
      authTimeout: 300,
      maxMessageBytes: 1024,
      maxAuthAttempts: 1,
      rateLimit: { perSecond: 0.5, burst: 1, abuseSeconds: 2.5 },
      allowedOrigins: ['https://App.Example.com:443', 'http://localhost:8080/', '*'],
      maxConnections: 10,
      maxConnectionsPerIp: 0,
      handshakeTimeout: 500,
      metricsPort: 0,
      redisUrl: 'rediss://user:pw@redis.example:6380/2',
      allowLoopbackPeers: true,
      turnAllowedPeers: ['10.1.0.0/16', '2001:db8::/32', '127.0.0.1'],
      turnDeniedPeers: ['8.8.8.0/24'],
      turnMaxAllocationsPerUser: 1,
      turnMaxAllocations: 5,
      turnLifetime: 3600,
      adminToken: 'x'.repeat(16),
      inspect: true,
      logLevel: 'silent',
      logFormat: 'pretty',
      example: true,
    });
    assert.equal(o.host, '10.0.0.1');
    assert.equal(o.port, 0);
    assert.equal(o.hostname, 'example.org');
    assert.equal(o.turnIp, '192.0.2.1');
    assert.equal(o.turnPort, false);
    assert.deepEqual(o.relayPorts, [50000, 50010]);
    assert.equal(o.idleTimeout, Infinity);
    assert.equal(o.authTimeout, 300);
    assert.equal(o.maxMessageBytes, 1024);
    assert.equal(o.maxAuthAttempts, 1);
    assert.deepEqual(o.rateLimit, { perSecond: 0.5, burst: 1, abuseSeconds: 2.5 });
    assert.deepEqual(o.allowedOrigins, ['https://app.example.com', 'http://localhost:8080', '*'], 'normalized as browsers send Origin');
    assert.equal(o.maxConnections, 10);
    assert.equal(o.maxConnectionsPerIp, Infinity, '0 means no limit');
    assert.equal(o.handshakeTimeout, 500);
    assert.equal(o.metricsPort, 0);
    assert.equal(o.redisUrl, 'rediss://user:pw@redis.example:6380/2');
    assert.equal(parseOptions({ redisUrl: 'redis+sentinel://s1:26379,s2:26380/mymaster' }).redisUrl, 'redis+sentinel://s1:26379,s2:26380/mymaster');
    assert.equal(o.allowLoopbackPeers, true);
    assert.deepEqual(o.turnAllowedPeers, ['10.1.0.0/16', '2001:db8::/32', '127.0.0.1']);
    assert.deepEqual(o.turnDeniedPeers, ['8.8.8.0/24']);
    assert.equal(o.turnMaxAllocationsPerUser, 1);
    assert.equal(o.turnMaxAllocations, 5);
    assert.equal(o.turnLifetime, 3600);
    assert.equal(o.adminToken, 'x'.repeat(16));
    assert.equal(o.inspect, 5678);
    assert.equal(o.logLevel, 'silent');
    assert.equal(o.logFormat, 'pretty');
    assert.equal(o.example, true);
    assert.equal(parseOptions({ inspect: 9229 }).inspect, 9229);
    assert.equal(parseOptions({ inspect: false }).inspect, null);
    assert.equal(parseOptions({ turnPort: 0 }).turnPort, 0);
  });

  test('function forms of auth and callbacks are accepted as given', () => {
    const auth = (u: string) => u;
    const leave = () => {};
    const o = parseOptions({ auth, callbacks: { leave } });
    assert.equal(o.auth, auth);
    assert.deepEqual(o.callbacks, { leave });
    assert.deepEqual(parseOptions({ auth: { module: './a.mjs', export: 'f' } }).auth, { module: './a.mjs', export: 'f' });
    assert.deepEqual(parseOptions({ auth: { secret: 's' } }).auth, { secret: 's' });
    assert.deepEqual(parseOptions({ callbacks: { module: './h.mjs' } }).callbacks, { module: './h.mjs' });
  });

  test('the result is frozen, nested objects too', () => {
    const o = parseOptions({ ...AUTH, certfile: 'c', keyfile: 'k' });
    assert.ok(Object.isFrozen(o));
    assert.ok(Object.isFrozen(o.rateLimit));
    assert.ok(Object.isFrozen(o.relayPorts));
    assert.ok(Object.isFrozen(o.turnAllowedPeers));
    assert.ok(Object.isFrozen(o.turnDeniedPeers));
    assert.ok(Object.isFrozen(o.tls));
    assert.throws(() => {
      (o as { port: number }).port = 1;
    }, TypeError);
  });

  test('the input is not mutated and later input changes do not leak in', () => {
    const input = { ...AUTH, rateLimit: { perSecond: 5, burst: 5 }, relayPorts: [1000, 2000] as [number, number] };
    const o = parseOptions(input);
    input.rateLimit.burst = 99;
    input.relayPorts[0] = 5;
    assert.deepEqual(o.rateLimit, { perSecond: 5, burst: 5, abuseSeconds: 10 });
    assert.deepEqual(o.relayPorts, [1000, 2000]);
  });
});

describe('parseOptions errors', () => {
  test('an unknown key is an error naming it', () => {
    throwsFor(() => parseOptions({ prot: 8080 }), 'prot', /unknown option/);
    throwsFor(() => parseOptions({ port: 1, idle_timeout: 5 }), 'idle_timeout', /unknown option/);
    throwsFor(() => parseOptions({ ...AUTH, turnport: 1 }), 'turnport', /unknown option/);
  });

  test('a nested unknown key is an error naming its path', () => {
    throwsFor(() => parseOptions({ rateLimit: { perSecond: 1, burst: 1, perMinute: 3 } }), 'rateLimit.perMinute', /unknown option/);
    throwsFor(() => parseOptions({ auth: { users: {}, extra: 1 } }), 'auth.extra', /unknown option/);
    throwsFor(() => parseOptions({ callbacks: { leave: () => {}, onLeave: () => {} } }), 'callbacks.onLeave', /unknown option/);
  });

  test('options that are not an object are refused', () => {
    for (const input of ['str', 5, [], true]) {
      assert.throws(() => parseOptions(input), (err: unknown) => err instanceof ServerError && err.code === ErrorCode.INVALID_OPTION);
    }
  });

  const invalid: [string, Record<string, unknown>, string?][] = [
    ['host', { host: '' }],
    ['host', { host: 5 }],
    ['port', { port: -1 }],
    ['port', { port: 65536 }],
    ['port', { port: 1.5 }],
    ['port', { port: '8080' }],
    ['certfile', { certfile: '', keyfile: 'k' }],
    ['keyfile', { certfile: 'c', keyfile: '' }],
    ['hostname', { hostname: '' }],
    ['turnIp', { turnIp: 'not-an-ip' }],
    ['turnIp', { turnIp: '::1' }],
    ['turnPort', { turnPort: true }],
    ['turnPort', { turnPort: 70000 }],
    ['turnTcp', { turnTcp: 'yes' }],
    ['turnTcp', { turnTcp: true, turnPort: 3478, port: 3478 }],
    ['turnTlsPort', { turnTlsPort: 'tls' }],
    ['turnTlsPort', { turnTlsPort: 70000, certfile: 'c', keyfile: 'k' }],
    ['turnTlsPort', { turnTlsPort: 5349 }],
    ['turnTlsPort', { turnTlsPort: 3478, certfile: 'c', keyfile: 'k' }],
    ['turnTlsPort', { turnTlsPort: 5349, turnPort: false, certfile: 'c', keyfile: 'k' }],
    ['relayPorts', { relayPorts: [2000, 1000] }],
    ['relayPorts', { relayPorts: [1000] }],
    ['relayPorts', { relayPorts: '1000-2000' }],
    ['relayPorts', { relayPorts: [0, 5] }, 'relayPorts.0'],
    ['idleTimeout', { idleTimeout: 0 }],
    ['idleTimeout', { idleTimeout: 'forever' }],
    ['idleTimeout', { idleTimeout: -5 }],
    ['authTimeout', { authTimeout: 0 }],
    ['authTimeout', { authTimeout: '5000' }],
    ['auth', { auth: 42 }],
    ['auth', { auth: { users: { alice: 1 } } }, 'auth.users.alice'],
    ['auth', { auth: { secret: '' } }, 'auth.secret'],
    ['auth', { auth: { module: '' } }, 'auth.module'],
    ['callbacks', { callbacks: { create: 1 } }, 'callbacks.create'],
    ['callbacks', { callbacks: 'hooks.mjs' }],
    ['maxMessageBytes', { maxMessageBytes: 1 }],
    ['maxMessageBytes', { maxMessageBytes: 1.5 }],
    ['maxAuthAttempts', { maxAuthAttempts: 0 }],
    ['rateLimit', { rateLimit: 50 }],
    ['rateLimit', { rateLimit: { perSecond: 0, burst: 1 } }, 'rateLimit.perSecond'],
    ['rateLimit', { rateLimit: { perSecond: 1 } }, 'rateLimit.burst'],
    ['rateLimit', { rateLimit: { perSecond: 1, burst: 1, abuseSeconds: 0 } }, 'rateLimit.abuseSeconds'],
    ['allowedOrigins', { allowedOrigins: 'https://a.example' }],
    ['allowedOrigins', { allowedOrigins: ['https://a.example/path'] }, 'allowedOrigins.0'],
    ['allowedOrigins', { allowedOrigins: ['a.example'] }, 'allowedOrigins.0'],
    ['allowedOrigins', { allowedOrigins: ['*', 'https://a.example?x=1'] }, 'allowedOrigins.1'],
    ['maxConnections', { maxConnections: 0 }],
    ['maxConnectionsPerIp', { maxConnectionsPerIp: -1 }],
    ['maxConnectionsPerIp', { maxConnectionsPerIp: 1.5 }],
    ['handshakeTimeout', { handshakeTimeout: 0 }],
    ['metricsPort', { metricsPort: 70000 }],
    ['redisUrl', { redisUrl: 'http://127.0.0.1:6379' }],
    ['redisUrl', { redisUrl: 'redis://' }],
    ['redisUrl', { redisUrl: 'redis+sentinel://h:26379' }],
    ['redisUrl', { redisUrl: 6379 }],
    ['allowLoopbackPeers', { allowLoopbackPeers: 'yes' }],
    ['turnAllowedPeers', { turnAllowedPeers: '10.0.0.0/8' }],
    ['turnAllowedPeers', { turnAllowedPeers: ['10.0.0.0/33'] }],
    ['turnAllowedPeers', { turnAllowedPeers: ['10.0.0.0/8', 'example.org'] }],
    ['turnAllowedPeers', { turnAllowedPeers: [10] }],
    ['turnDeniedPeers', { turnDeniedPeers: ['::/129'] }],
    ['turnDeniedPeers', { turnDeniedPeers: ['10.0.0.0/8/1'] }],
    ['turnDeniedPeers', { turnDeniedPeers: { cidr: '10.0.0.0/8' } }],
    ['turnMaxAllocationsPerUser', { turnMaxAllocationsPerUser: 0 }],
    ['turnMaxAllocationsPerUser', { turnMaxAllocationsPerUser: 1.5 }],
    ['turnMaxAllocationsPerUser', { turnMaxAllocationsPerUser: '32' }],
    ['turnMaxAllocations', { turnMaxAllocations: 0 }],
    ['turnMaxAllocations', { turnMaxAllocations: -1 }],
    ['turnMaxAllocations', { turnMaxAllocations: 'many' }],
    ['turnLifetime', { turnLifetime: 3601 }],
    ['turnLifetime', { turnLifetime: 0 }],
    ['turnThreads', { turnThreads: 65 }],
    ['turnThreads', { turnThreads: -1 }],
    ['turnThreads', { turnThreads: 1.5 }],
    ['turnThreads', { turnThreads: 'all' }],
    ['adminToken', { adminToken: 'short' }],
    ['inspect', { inspect: 'yes' }],
    ['inspect', { inspect: 0 }],
    ['logLevel', { logLevel: 'loud' }],
    ['logFormat', { logFormat: 'xml' }],
    ['example', { example: 'yes' }],
  ];
  for (const [name, input, path] of invalid) {
    test(`invalid ${name}: ${JSON.stringify(input)} names ${path ?? name}`, () => {
      throwsFor(() => parseOptions({ ...AUTH, ...input }), path ?? name);
    });
  }

  test('every option name has at least one invalid-value case above', () => {
    const covered = new Set(invalid.map(([name]) => name));
    assert.deepEqual(OPTION_NAMES.filter((n) => !covered.has(n)), []);
  });

  test('an invalid CIDR names the option and the bad entry', () => {
    throwsFor(() => parseOptions({ turnAllowedPeers: ['10.0.0.0/8', '300.1.1.1/8'] }), 'turnAllowedPeers', /"300\.1\.1\.1\/8" is not a CIDR block/);
    throwsFor(() => parseOptions({ turnDeniedPeers: ['fe80::/200'] }), 'turnDeniedPeers', /"fe80::\/200"/);
    assert.deepEqual(parseOptions({ turnDeniedPeers: [] }).turnDeniedPeers, []);
  });

  test('a known key with a value of the wrong type is not reported as an unknown option', () => {
    assert.throws(
      () => parseOptions({ callbacks: { module: 42 } }),
      (err: unknown) => {
        assert.ok(err instanceof ServerError);
        assert.equal(err.code, ErrorCode.INVALID_OPTION);
        assert.ok(err.option === 'callbacks' || err.option === 'callbacks.module', String(err.option));
        assert.doesNotMatch(err.message, /unknown option/);
        return true;
      },
    );
  });

  test('certfile without keyfile (and the reverse) names the missing one', () => {
    throwsFor(() => parseOptions({ ...AUTH, certfile: 'c.pem' }), 'keyfile', /together/);
    throwsFor(() => parseOptions({ ...AUTH, keyfile: 'k.pem' }), 'certfile', /together/);
  });

  test('a non-loopback host without auth is refused, naming host', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org']) {
      throwsFor(() => parseOptions({ host }), 'host', /auth/);
    }
  });

  test('loopback hosts without auth are fine; any host with auth is fine', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) {
      assert.equal(parseOptions({ host }).host, host);
    }
    assert.equal(parseOptions({ ...AUTH, host: '0.0.0.0' }).host, '0.0.0.0');
  });
});

describe('turnTcp and turnTlsPort', () => {
  const TLS = { ...AUTH, certfile: 'c.pem', keyfile: 'k.pem' };

  test('TURN over TCP is on by default, off with turnTcp: false or with TURN itself', () => {
    assert.equal(parseOptions(AUTH).turnTcp, true);
    assert.equal(parseOptions({ ...AUTH, turnTcp: false }).turnTcp, false);
    assert.equal(parseOptions({ ...AUTH, turnPort: false }).turnTcp, false);
    assert.equal(parseOptions({ ...AUTH, turnPort: 3478, port: 3478, turnTcp: false }).turnTcp, false, 'UDP 3478 beside signaling on TCP 3478');
  });

  test('turnTlsPort: 5349 with a certificate, off without; false turns it off; a port is kept', () => {
    assert.equal(parseOptions(AUTH).turnTlsPort, null);
    assert.equal(parseOptions(TLS).turnTlsPort, 5349);
    assert.equal(DEFAULTS.turnTlsPort, 5349);
    assert.equal(parseOptions({ ...TLS, turnTlsPort: false }).turnTlsPort, null);
    assert.equal(parseOptions({ ...TLS, turnTlsPort: 0 }).turnTlsPort, 0);
    assert.equal(parseOptions({ ...TLS, turnTlsPort: 443 }).turnTlsPort, 443);
    assert.equal(parseOptions({ ...TLS, turnPort: false }).turnTlsPort, null, 'no TURN, no TURN over TLS');
    assert.equal(parseOptions({ ...TLS, turnTcp: false, turnTlsPort: 3478 }).turnTlsPort, 3478, 'TLS on the TCP port TURN over TCP does not use');
  });

  test('one port: turnTlsPort equal to port shares the TLS listener (0 included)', () => {
    assert.equal(sharesTlsPort(parseOptions({ ...TLS, port: 443, turnTlsPort: 443 })), true);
    assert.equal(sharesTlsPort(parseOptions({ ...TLS, port: 0, turnTlsPort: 0 })), true);
    assert.equal(sharesTlsPort(parseOptions(TLS)), false);
    assert.equal(sharesTlsPort(parseOptions({ ...TLS, turnTlsPort: false })), false);
  });

  test('errors say why', () => {
    throwsFor(() => parseOptions({ ...AUTH, turnTlsPort: 5349 }), 'turnTlsPort', /certfile and keyfile/);
    throwsFor(() => parseOptions({ ...TLS, turnTlsPort: 5349, turnPort: false }), 'turnTlsPort', /TURN is off/);
    throwsFor(() => parseOptions({ ...TLS, turnTlsPort: 3478 }), 'turnTlsPort', /TURN over TCP listens/);
    throwsFor(() => parseOptions({ ...AUTH, port: 3478 }), 'turnTcp', /signaling/);
  });

  test('flags and env variables', () => {
    assert.equal(kebab('turnTlsPort'), 'turn-tls-port');
    assert.equal(envName('turnTcp'), 'WEBRTC_SERVER_TURN_TCP');
    assert.deepEqual(
      optionsFromEnv({ WEBRTC_SERVER_TURN_TCP: 'false', WEBRTC_SERVER_TURN_TLS_PORT: '443' }),
      { turnTcp: false, turnTlsPort: 443 },
    );
    assert.equal(coerce('turnTlsPort', 'false'), false);
    assert.equal(coerce('turnTcp', true), true);
    throwsFor(() => coerce('turnTlsPort', 'tls'), 'turnTlsPort', /integer/);
    throwsFor(() => coerce('turnTcp', 'maybe'), 'turnTcp', /true or false/);
  });
});

describe('TURN peer and quota options from the CLI and the environment', () => {
  test('flags and env variables: JSON arrays of CIDRs, integers', () => {
    assert.equal(kebab('turnAllowedPeers'), 'turn-allowed-peers');
    assert.equal(kebab('turnMaxAllocationsPerUser'), 'turn-max-allocations-per-user');
    assert.equal(envName('turnDeniedPeers'), 'WEBRTC_SERVER_TURN_DENIED_PEERS');
    assert.equal(envName('turnMaxAllocations'), 'WEBRTC_SERVER_TURN_MAX_ALLOCATIONS');
    const fromEnv = optionsFromEnv({
      WEBRTC_SERVER_TURN_ALLOWED_PEERS: '["10.1.0.0/16"]',
      WEBRTC_SERVER_TURN_DENIED_PEERS: '["127.0.0.0/8", "::1"]',
      WEBRTC_SERVER_TURN_MAX_ALLOCATIONS_PER_USER: '4',
      WEBRTC_SERVER_TURN_MAX_ALLOCATIONS: '100',
    });
    assert.deepEqual(fromEnv, { turnAllowedPeers: ['10.1.0.0/16'], turnDeniedPeers: ['127.0.0.0/8', '::1'], turnMaxAllocationsPerUser: 4, turnMaxAllocations: 100 });
    const o = parseOptions(fromEnv);
    assert.deepEqual([o.turnAllowedPeers, o.turnDeniedPeers, o.turnMaxAllocationsPerUser, o.turnMaxAllocations], [['10.1.0.0/16'], ['127.0.0.0/8', '::1'], 4, 100]);
    throwsFor(() => coerce('turnAllowedPeers', '10.0.0.0/8'), 'turnAllowedPeers', /JSON/);
    throwsFor(() => coerce('turnMaxAllocations', 'lots'), 'turnMaxAllocations', /integer/);
    throwsFor(() => parseOptions(optionsFromEnv({ WEBRTC_SERVER_TURN_DENIED_PEERS: '["not-a-cidr"]' })), 'turnDeniedPeers');
  });
});
