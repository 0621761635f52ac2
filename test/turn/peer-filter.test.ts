/** src/turn/peer-filter.ts: the default deny list, overrides, own-address rule. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ipToBigInt, parseCidr, PeerFilter } from '../../src/turn/peer-filter.js';

describe('PeerFilter#checkPeer (defaults)', () => {
  const filter = new PeerFilter();
  const denied = [
    '127.0.0.1', '127.255.255.254', '0.0.0.0', '0.1.2.3', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '100.64.0.1', '100.127.255.255', '169.254.169.254', '169.254.0.1', '224.0.0.251', '239.255.255.250',
    '240.0.0.1', '255.255.255.255', '192.0.2.1', '198.51.100.7', '203.0.113.9', '198.18.0.1',
    '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'febf::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '0:0:0:0:0:ffff:c0a8:101',
    '64:ff9b::a00:1', '2002:a00:1::1', '2001:db8::1', '::127.0.0.1',
  ];
  for (const ip of denied) {
    test(`refuses ${ip}`, () => assert.equal(filter.checkPeer(ip), 'denied'));
  }
  const allowed = ['8.8.8.8', '1.1.1.1', '100.128.0.1', '172.32.0.1', '192.169.0.1', '2a00:1450:4001::200e', '::ffff:8.8.8.8'];
  for (const ip of allowed) {
    test(`allows ${ip}`, () => assert.equal(filter.checkPeer(ip), 'allowed'));
  }
  test('garbage is invalid', () => {
    assert.equal(filter.checkPeer('example.com'), 'invalid');
    assert.equal(filter.checkPeer('1.2.3'), 'invalid');
  });
});

describe('PeerFilter overrides', () => {
  test('allowLoopbackPeers allows 127/8, ::1 and the mapped form, nothing else', () => {
    const f = new PeerFilter({ allowLoopbackPeers: true });
    assert.equal(f.checkPeer('127.0.0.1'), 'allowed');
    assert.equal(f.checkPeer('127.1.2.3'), 'allowed');
    assert.equal(f.checkPeer('::1'), 'allowed');
    assert.equal(f.checkPeer('::ffff:127.0.0.1'), 'allowed');
    assert.equal(f.checkPeer('10.0.0.1'), 'denied');
    assert.equal(f.checkPeer('169.254.169.254'), 'denied');
  });

  test('allowed wins over denied and the defaults', () => {
    const f = new PeerFilter({ allowed: ['10.1.0.0/16'], denied: ['10.1.2.0/24', '8.8.8.0/24'] });
    assert.equal(f.checkPeer('10.1.2.3'), 'allowed');
    assert.equal(f.checkPeer('10.2.0.1'), 'denied');
    assert.equal(f.checkPeer('8.8.8.8'), 'denied');
    assert.equal(f.checkPeer('8.8.4.4'), 'allowed');
  });

  test('denied wins over allowLoopbackPeers; allowed wins over denied (issue 3)', () => {
    const f = new PeerFilter({ allowLoopbackPeers: true, denied: ['127.0.0.0/8'] });
    assert.equal(f.checkPeer('127.0.0.1'), 'denied');
    assert.equal(f.checkDestination('127.0.0.1', 50000), 'denied');
    assert.equal(f.checkPeer('::1'), 'allowed', 'the rest of loopback is still allowed');
    const g = new PeerFilter({ allowLoopbackPeers: false, allowed: ['127.0.0.1/32'], denied: ['127.0.0.0/8'] });
    assert.equal(g.checkPeer('127.0.0.1'), 'allowed');
    assert.equal(g.checkPeer('127.0.0.2'), 'denied');
    assert.equal(g.checkPeer('::1'), 'denied', 'the default list still applies');
  });

  test('allowLoopbackPeers reaches loopback on any port, even when it is the server\'s own address', () => {
    const f = new PeerFilter({ allowLoopbackPeers: true, selfAddresses: ['127.0.0.1'], relayPorts: [49152, 65535] });
    assert.equal(f.checkDestination('127.0.0.1', 5353), 'allowed');
    const g = new PeerFilter({ selfAddresses: ['127.0.0.1'], relayPorts: [49152, 65535], defaultDenied: [] });
    assert.equal(g.checkDestination('127.0.0.1', 5353), 'denied');
    assert.equal(g.checkDestination('127.0.0.1', 50000), 'allowed');
  });

  test('the server\'s own address is reachable on relay ports only', () => {
    const f = new PeerFilter({ selfAddresses: ['203.0.114.5', '0.0.0.0'], relayPorts: [49152, 65535] });
    assert.equal(f.checkPeer('203.0.114.5'), 'allowed');
    assert.equal(f.checkDestination('203.0.114.5', 50000), 'allowed');
    assert.equal(f.checkDestination('203.0.114.5', 53), 'denied');
    assert.equal(f.checkDestination('203.0.114.6', 53), 'allowed');
    assert.equal(f.checkDestination('203.0.114.6', 0), 'invalid');
  });
});

describe('parseCidr', () => {
  test('normalises the base and rejects bad input', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), parseCidr('10.0.0.0/8'));
    assert.equal(parseCidr('::1').bits, 128);
    assert.equal(parseCidr('1.2.3.4').bits, 128);
    for (const bad of ['10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/8/1', '10.0.0.0/']) {
      assert.throws(() => parseCidr(bad), TypeError, bad);
    }
    assert.equal(ipToBigInt('::ffff:1.2.3.4'), ipToBigInt('1.2.3.4'));
  });
});
