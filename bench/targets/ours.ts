/**
 * Our server as a bench target: `startServer` from src (the working tree,
 * no build needed) on 127.0.0.1, TURN off, every bench user accepted with
 * the bench password, rate limit and idle timeout out of the way. Options
 * in BENCH_OPTIONS (JSON) are merged over these: the TURN suite turns TURN
 * on (`turnPort: 0`, loopback peers, its own relay port range) and the
 * listening announcement then carries the TURN port too. With `redisUrl`
 * (the cluster suite) it announces itself only once the cluster is ready
 * (Redis reachable, roster loaded: `health().ready`), so that no client
 * joins before membership is recorded in Redis. TURN's per-source challenge
 * budget (401/438 answers, 16 at once and 4/s per IP by default) is raised
 * to BENCH_TURN_LIMITS: the TURN loads open up to 64 allocations from one
 * IP (127.0.0.1), one 401 each, and every configuration (1 or 2 relay
 * threads, TURN on the main thread) must carry the same load.
 */
import { startServer } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { BENCH_PASSWORD } from '../lib/protocols.js';
import { announce, serveIpc } from './ipc.js';

const extra = JSON.parse(process.env.BENCH_OPTIONS ?? '{}') as Options;
const BENCH_TURN_LIMITS = { challengeBurst: 1024, challengePerSecond: 1024 };
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  turnPort: false,
  auth: () => BENCH_PASSWORD,
  rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
  maxConnections: 1_000_000,
  maxConnectionsPerIp: 0, // the load generators' thousands of sockets come from a few addresses
  idleTimeout: 'infinity',
  authTimeout: 30_000,
  logLevel: 'warn',
  ...extra,
}, { turnLimits: BENCH_TURN_LIMITS });
serveIpc(() => server.stop());
if (extra.redisUrl) {
  const deadline = Date.now() + 15_000;
  while (!server.health().ready) {
    if (Date.now() > deadline) throw new Error(`the cluster is not ready after 15 s (${extra.redisUrl})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const address = server.signalingAddress();
if (!address) throw new Error('the signaling listener has no address');
announce(address.port, server.turnAddress()?.port ?? null);
