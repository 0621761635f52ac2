/**
 * Our server as the soak's target: `startServer` from src on 127.0.0.1 with
 * TURN on (`turnPort: 0`, relay on 127.0.0.1, loopback peers allowed) and
 * the metrics listener on a free loopback port, and otherwise the DEFAULT
 * limits (rate limit, slow-consumer limit, connection caps, handshake and
 * idle timeouts, guess throttle, TURN budgets and quotas): the soak is
 * about the real limits under abuse. Every user is accepted with the bench
 * password except made-up ones (SOAK_UNKNOWN_USER_PREFIX). BENCH_OPTIONS
 * (JSON) is merged over these (the suite passes a relay port block).
 *
 * Besides `usage` and `stop` (ipc.ts) it answers `probe`: event-loop delay
 * since the last probe, then (after a GC when asked; run it with
 * --expose-gc) memory, the active resources counted by type, and every
 * timer scheduled; and `heap-snapshot` (a GC, then v8.writeHeapSnapshot to
 * the file named). process.getActiveResourcesInfo() lists only the timers
 * that keep the process alive, and the server unrefs its own (src/clock.ts):
 * with --expose-internals the probe walks Node's timer lists, so unref'd
 * timers are counted too.
 */
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { startServer } from '../../src/index.js';
import type { Options } from '../../src/index.js';
import { BENCH_PASSWORD, SOAK_UNKNOWN_USER_PREFIX } from '../lib/protocols.js';
import { announce, serveIpc } from './ipc.js';
import type { ProbeReply } from './ipc.js';

const extra = JSON.parse(process.env.BENCH_OPTIONS ?? '{}') as Options;
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  auth: (username: string) => (username.startsWith(SOAK_UNKNOWN_USER_PREFIX) ? undefined : BENCH_PASSWORD),
  turnPort: 0,
  turnIp: '127.0.0.1',
  allowLoopbackPeers: true,
  metricsPort: 0,
  logLevel: 'warn',
  ...extra,
});

/** Node's timer lists (internal/timers, with --expose-internals): each a circular list of the Timeouts due after one duration. */
type TimerList = { _idleNext: TimerList | null };
const timerLists = ((): Record<string, TimerList> | null => {
  try {
    return (createRequire(import.meta.url)('internal/timers') as { timerListMap: Record<string, TimerList> }).timerListMap;
  } catch {
    return null;
  }
})();

/** Timers scheduled (ref'd or not), or null without --expose-internals. */
function scheduledTimers(): number | null {
  if (!timerLists) return null;
  let n = 0;
  for (const key in timerLists) {
    const list = timerLists[key]!;
    for (let t = list._idleNext; t && t !== list; t = t._idleNext) n++;
  }
  return n;
}

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
process.on('message', (raw) => {
  const message = raw as { op?: string; gc?: boolean; file?: string };
  if (message.op === 'heap-snapshot' && message.file) {
    // Blocks the loop for a second or more: only with --soak-heap-snapshots.
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ op: 'heap-snapshot', file: writeHeapSnapshot(message.file) });
    return;
  }
  if (message.op !== 'probe') return;
  // Read (and restart) the loop delay first: the GC below would show in it.
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const lag = { p50Ms: ms(delay.percentile(50)), p99Ms: ms(delay.percentile(99)), maxMs: ms(delay.max), meanMs: ms(delay.mean) };
  delay.reset();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (message.gc && gc) gc();
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  const mem = process.memoryUsage();
  const reply: ProbeReply = {
    op: 'probe',
    gc: Boolean(message.gc && gc),
    lag,
    resources,
    timers: scheduledTimers(),
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
  };
  process.send?.(reply);
});

serveIpc(() => server.stop());
const address = server.signalingAddress();
if (!address) throw new Error('the signaling listener has no address');
announce(address.port, server.turnAddress()?.port ?? null, { metricsPort: server.metricsAddress()?.port ?? null });
