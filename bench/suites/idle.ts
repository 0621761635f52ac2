/**
 * Suite 2, idle capacity: N connections that authenticated and joined rooms
 * of `roomSize`, then sit idle. The server's RSS (from /proc) before and
 * after, after a GC in both, gives the memory each connection costs; the
 * bare relay holding the same sockets in the same rooms is the baseline.
 * Clients are spread over processes (each has its own open-file limit) and
 * over source addresses 127.0.0.x (each has its own ephemeral ports).
 */
import type { BenchConfig } from '../lib/config.js';
import { fileLimits, localAddresses, sleep, startTarget } from '../lib/procs.js';
import type { LoadWorker, TargetProcess, WorkerPool } from '../lib/procs.js';
import type { TargetKind } from '../lib/protocols.js';
import type { IdleResult, TargetRef } from '../load/messages.js';
import { errorText, median, round, tearDown } from './common.js';

export interface IdleRun {
  target: TargetKind;
  round: number;
  requested: number;
  connected: number;
  failed: number;
  firstError: string | null;
  /** Connections opened (and authenticated) per second while filling up. */
  connectPerS: number | null;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  /** (RSS after − RSS before) / connected. */
  perConnKiB: number | null;
  /** V8 heap growth per connection, from the server itself (after GC). */
  heapPerConnKiB: number | null;
  error: string | null;
}

/** What filling a target with idle connections gave. */
export interface IdleFill {
  connected: number;
  failed: number;
  firstError: string | null;
  connectPerS: number;
}

/**
 * `shares[i]` idle authenticated connections from worker i, in rooms of
 * `roomSize`, four source addresses per process (different for each);
 * `bases`: client `j` of a worker connects to `bases[j % bases.length]`.
 */
export async function fillIdle(
  workers: LoadWorker[],
  shares: number[],
  o: { target: TargetRef; bases?: string[]; roomSize: number; prefix: string; concurrency: number },
): Promise<IdleFill> {
  const started = performance.now();
  const results = await Promise.all(
    workers.map((w, i) =>
      w.request<IdleResult>(
        {
          op: 'idle',
          target: o.target,
          ...(o.bases ? { bases: o.bases } : {}),
          count: shares[i]!,
          roomSize: o.roomSize,
          roomPrefix: `${o.prefix}w${i}-`,
          clientPrefix: `${o.prefix}w${i}-`,
          localAddresses: localAddresses(10 + 4 * i, 4),
          concurrency: o.concurrency,
          timeoutMs: 30_000,
        },
        Math.max(120_000, shares[i]! * 20),
      ),
    ),
  );
  const fillS = (performance.now() - started) / 1000;
  const connected = results.reduce((a, r) => a + r.connected, 0);
  return {
    connected,
    failed: results.reduce((a, r) => a + r.failed, 0),
    firstError: results.find((r) => r.firstError)?.firstError ?? null,
    connectPerS: round(connected / fillS, 0),
  };
}

export interface IdleSuiteResult {
  config: { connections: number; roomSize: number; workers: number; softFileLimit: number | null; hardFileLimit: number | null };
  runs: IdleRun[];
  /** Median over rounds of our KiB per connection. */
  oursPerConnKiB: number | null;
  barePerConnKiB: number | null;
  /** Median over rounds of ours / bare. */
  ratio: number | null;
  goalKiB: number;
  goalConnections: number;
  skipped: { target: TargetKind; reason: string }[];
}

export async function runIdle(config: BenchConfig, pool: WorkerPool): Promise<IdleSuiteResult> {
  const c = config.idle;
  const log = config.log ?? (() => {});
  const limits = fileLimits();
  let connections = c.connections;
  // The server holds every socket in one process: it needs that many descriptors, plus some.
  if (limits && Number.isFinite(limits.hard) && connections + 200 > limits.hard) {
    log(`idle: the hard open-file limit is ${limits.hard}: capping connections at ${limits.hard - 200}`);
    connections = limits.hard - 200;
  }
  const workerCount = Math.max(1, Math.ceil(connections / c.perWorker));
  const workers = await pool.get(workerCount);
  const runs: IdleRun[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    for (const target of c.targets) {
      log(`idle round ${roundNo + 1}/${config.rounds}: ${target}, ${connections} connections over ${workerCount} processes`);
      const run: IdleRun = {
        target,
        round: roundNo,
        requested: connections,
        connected: 0,
        failed: 0,
        firstError: null,
        connectPerS: null,
        rssBeforeKiB: null,
        rssAfterKiB: null,
        perConnKiB: null,
        heapPerConnKiB: null,
        error: null,
      };
      let server: TargetProcess | null = null;
      try {
        server = await startTarget(target, { exposeGc: true });
        const ref = { kind: target, base: server.base };
        // Warm up (JIT, buffers, first room), then let it go before the baseline reading.
        if (c.warmup > 0) {
          await workers[0]!.request({ op: 'idle', target: ref, count: c.warmup, roomSize: c.roomSize, roomPrefix: `warm${roundNo}-`, clientPrefix: `warm${roundNo}-`, localAddresses: [], concurrency: c.concurrency, timeoutMs: 10_000 }, 60_000);
          await workers[0]!.request({ op: 'teardown' });
          await sleep(300);
        }
        const before = await server.usage(true);
        await sleep(200);
        run.rssBeforeKiB = server.rssKiB();
        Object.assign(run, await fillIdle(workers, split(connections, workers.length), { target: ref, roomSize: c.roomSize, prefix: `idle${roundNo}-`, concurrency: c.concurrency }));
        await sleep(c.settleMs);
        const after = await server.usage(true);
        await sleep(200);
        run.rssAfterKiB = server.rssKiB();
        if (run.connected > 0 && run.rssBeforeKiB !== null && run.rssAfterKiB !== null) {
          run.perConnKiB = round((run.rssAfterKiB - run.rssBeforeKiB) / run.connected, 2);
        }
        if (run.connected > 0 && before && after) run.heapPerConnKiB = round((after.heapUsed - before.heapUsed) / 1024 / run.connected, 2);
        log(`  ${run.connected} held (${run.failed} failed), ${run.perConnKiB ?? '?'} KiB RSS each, ${run.connectPerS}/s while filling`);
      } catch (err) {
        run.error = errorText(err);
        log(`  failed: ${run.error}`);
      } finally {
        await tearDown(workers, server, 30_000);
      }
      runs.push(run);
    }
  }
  const per = (kind: TargetKind) => runs.filter((r) => r.target === kind && r.perConnKiB !== null).map((r) => r.perConnKiB!);
  const ratios: number[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    const a = runs.find((r) => r.round === roundNo && r.target === 'ours')?.perConnKiB;
    const b = runs.find((r) => r.round === roundNo && r.target === 'bare')?.perConnKiB;
    if (a != null && b != null && b > 0) ratios.push(a / b);
  }
  const m = (v: number[]) => {
    const x = median(v);
    return x === null ? null : round(x, 2);
  };
  return {
    config: { connections, roomSize: c.roomSize, workers: workerCount, softFileLimit: finite(limits?.soft), hardFileLimit: finite(limits?.hard) },
    runs,
    oursPerConnKiB: m(per('ours')),
    barePerConnKiB: m(per('bare')),
    ratio: m(ratios),
    goalKiB: 30,
    goalConnections: 18_000,
    skipped: [],
  };
}

export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

const finite = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : v);
