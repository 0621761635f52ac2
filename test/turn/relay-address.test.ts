/** src/turn/relay-address.ts: the turnIp default and its log lines. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRelayAddress } from '../../src/turn/relay-address.js';
import { memoryLogger } from '../helpers/server.js';

describe('resolveRelayAddress', () => {
  test('turnIp wins, without a lookup', async () => {
    const { logger } = memoryLogger();
    const ip = await resolveRelayAddress({ turnIp: '203.0.113.7', hostname: 'h', listenHost: '0.0.0.0', dev: false }, logger, async () => {
      throw new Error('no lookup expected');
    });
    assert.equal(ip, '203.0.113.7');
  });

  test('first A record of hostname, with a clear log line', async () => {
    const { logger, lines } = memoryLogger();
    const ip = await resolveRelayAddress({ turnIp: null, hostname: 'turn.example', listenHost: '0.0.0.0', dev: false }, logger, async (h) => {
      assert.equal(h, 'turn.example');
      return '198.51.100.20';
    });
    assert.equal(ip, '198.51.100.20');
    assert.match(lines().at(-1).msg, /turnIp not set: using 198\.51\.100\.20, the first A record of turn\.example/);
  });

  test('lookup failure: falls back to the listening address, or 127.0.0.1 for a wildcard, and says so', async () => {
    const fail = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    const a = memoryLogger();
    assert.equal(await resolveRelayAddress({ turnIp: null, hostname: 'nowhere', listenHost: '0.0.0.0', dev: false }, a.logger, fail), '127.0.0.1');
    assert.equal(a.lines().at(-1).level, 40);
    assert.match(a.lines().at(-1).msg, /falling back to 127\.0\.0\.1; set "turnIp"/);
    const b = memoryLogger();
    assert.equal(await resolveRelayAddress({ turnIp: null, hostname: 'nowhere', listenHost: '192.0.2.5', dev: false }, b.logger, fail), '192.0.2.5');
  });

  test('a loopback A record for a public listener is used but warned about', async () => {
    const { logger, lines } = memoryLogger();
    const ip = await resolveRelayAddress({ turnIp: null, hostname: 'box', listenHost: '0.0.0.0', dev: false }, logger, async () => '127.0.1.1');
    assert.equal(ip, '127.0.1.1');
    assert.equal(lines().at(-1).level, 40);
  });

  test('dev mode relays on the loopback listening address, no lookup', async () => {
    const { logger } = memoryLogger();
    const ip = await resolveRelayAddress({ turnIp: null, hostname: 'box', listenHost: '127.0.0.1', dev: true }, logger, async () => {
      throw new Error('no lookup expected');
    });
    assert.equal(ip, '127.0.0.1');
  });
});
