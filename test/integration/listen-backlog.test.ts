/**
 * The signaling listener's accept queue holds a reconnect storm: its backlog
 * is `maxConnections` (the kernel caps it at net.core.somaxconn), not Node's
 * default 511, so thousands of clients reconnecting at once are queued, not
 * dropped at SYN and left to their retransmit timers. Read back from the
 * kernel: `ss` shows a listening socket's backlog as its Send-Q.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { listenBacklog } from '../../src/signaling/listener.js';
import { testServer } from '../helpers/server.js';

const SS = ['/usr/bin/ss', '/bin/ss', '/usr/sbin/ss'].find((p) => existsSync(p));
const somaxconn = (): number | null => {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return null;
  }
};

/** The backlog the kernel gave the listening socket on 127.0.0.1:port. */
function kernelBacklog(port: number): number {
  const out = execFileSync(SS!, ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const line = out.split('\n').find((l) => l.includes(`127.0.0.1:${port}`));
  assert.ok(line, `ss lists the listener on ${port}: ${out}`);
  // State Recv-Q Send-Q Local Peer: for a listening socket, Send-Q is the backlog.
  return Number(line.trim().split(/\s+/)[2]);
}

test('the backlog asked for: maxConnections, at least Node\'s 511, at most 65,535', () => {
  assert.equal(listenBacklog(20_000), 20_000);
  assert.equal(listenBacklog(10), 511);
  assert.equal(listenBacklog(1_000_000), 65_535);
});

test('the listening socket gets it (up to somaxconn)', { skip: SS && somaxconn() ? false : 'needs ss and /proc/sys/net/core/somaxconn' }, async (t) => {
  const cap = somaxconn()!;
  for (const maxConnections of [1_000, 20_000]) {
    const server = await testServer({ maxConnections });
    t.after(() => server.stop());
    assert.equal(kernelBacklog(server.port), Math.min(listenBacklog(maxConnections), cap), `maxConnections ${maxConnections}`);
  }
});
