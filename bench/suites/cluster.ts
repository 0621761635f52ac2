/**
 * Suite 6, cluster (`--only cluster`): a room split over two servers of ours
 * on one Redis versus the same load on one server, in the same run.
 *
 * Targets, alternating per round (A B C A B C …), each freshly started with
 * a fresh redis-server of its own (no persistence) where it needs one:
 *   plain  ours without Redis (what the fan-out suite measures)
 *   one    ours with `redisUrl`, alone on its Redis: a one-node cluster
 *          (membership in Redis, every frame delivered locally)
 *   two    two of ours on one Redis; every room's members split between
 *          them (client idx of room r on server (idx + r) mod 2: half the
 *          clients on each), so a broadcast reaches the other server's
 *          members over Redis pub/sub and most unicasts cross too.
 * Same clients, rooms, message mix (broadcast and unicast ICE candidates),
 * open-loop steps and closed-loop max as the fan-out suite (driveLoad).
 * Server CPU is the sum over the target's servers; redis-server's CPU is
 * measured apart, and msgs/CPU-s is given both without and with it.
 *
 * Then the capacity line: N idle authenticated connections in rooms of 4
 * (each room 2 + 2 over the two servers), the idle suite's method: RSS of
 * each server (after a GC) before and after, and Redis' `used_memory`
 * (INFO memory) before and after, per member.
 */
import type { BenchConfig, ClusterTargetKind } from '../lib/config.js';
import { fileLimits, machineCpu, procSyscalls, sleep, startTarget } from '../lib/procs.js';
import type { LoadWorker, TargetProcess, WorkerPool } from '../lib/procs.js';
import type { Mode } from '../lib/protocols.js';
import { redisUnavailable, startRedis } from '../lib/redis.js';
import type { RedisServer } from '../lib/redis.js';
import { errorText, median, round, sumCpu, tearDown } from './common.js';
import type { CpuWindow } from './common.js';
import { driveLoad, measureStep } from './fanout.js';
import { fillIdle, split } from './idle.js';
import type { StepResult } from './fanout.js';

export interface ClusterStep extends StepResult {
  /** Each server's CPU over the window, percent of one core (one entry per server). */
  serverCpuPctEach: (number | null)[];
  redisCpuS: number | null;
  redisCpuPct: number | null;
  /** Delivered messages per CPU-second of the servers and redis-server together. */
  msgsPerCpuSWithRedis: number | null;
  /** The servers' read and write system calls (summed; /proc/<pid>/io) per delivered message. */
  readsPerMsg: number | null;
  writesPerMsg: number | null;
}

/** What redis-server did over a run's load (INFO commandstats, reset before the load). */
export interface RedisLoadStats {
  publishCalls: number;
  publishUsecPerCall: number | null;
  /** Script runs (joins, leaves, heartbeats) over the same window. */
  evalCalls: number;
  /** redis-server CPU over the whole load (steps and max), seconds. */
  cpuS: number | null;
}

export interface ClusterRun {
  target: ClusterTargetKind;
  mode: Mode;
  round: number;
  servers: number;
  rooms: number;
  clientsPerRoom: number;
  /** Clients on each server. */
  clientsPerServer: number[];
  steps: ClusterStep[];
  max: ClusterStep | null;
  saturatedAt: number | null;
  loadWindowUs: { fromUs: number; toUs: number } | null;
  redis: RedisLoadStats | null;
  error: string | null;
}

export interface ClusterComparison {
  mode: Mode;
  subject: ClusterTargetKind;
  baseline: ClusterTargetKind;
  /** Per round: subject / baseline, max step: delivered/s; msgs per server CPU-s; msgs per (servers + Redis) CPU-s. */
  throughputRatios: number[];
  efficiencyRatios: number[];
  efficiencyWithRedisRatios: number[];
  throughputRatio: number | null;
  efficiencyRatio: number | null;
  efficiencyWithRedisRatio: number | null;
  /** Per round: the baseline's server CPU (% of one core) at max; under ~90 it was held back by the generators. */
  baselineCpuPct: (number | null)[];
  subjectCpuPct: (number | null)[];
}

export interface CapacityServer {
  /** Connections this server holds (assigned; failures are counted in the run). */
  connections: number;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  /** (RSS after − before) / this server's connections. */
  perConnKiB: number | null;
  /** (RSS after − before) / the cluster's members: every server keeps the whole roster. */
  perMemberKiB: number | null;
  heapPerConnKiB: number | null;
}

export interface ClusterCapacityRun {
  target: ClusterTargetKind;
  requested: number;
  connected: number;
  failed: number;
  firstError: string | null;
  rooms: number;
  connectPerS: number | null;
  servers: CapacityServer[];
  redis: {
    usedMemoryBefore: number | null;
    usedMemoryAfter: number | null;
    /** (used_memory after − before) / members, bytes. */
    bytesPerMember: number | null;
    rssBeforeKiB: number | null;
    rssAfterKiB: number | null;
    keysAfter: number | null;
  };
  error: string | null;
}

export interface ClusterResult {
  status: 'ran' | 'not run';
  reason: string;
  config: {
    targets: ClusterTargetKind[];
    modes: Mode[];
    rooms: number;
    clientsPerRoom: number;
    steps: number[];
    warmupMs: number;
    measureMs: number;
    window: number;
    workers: number;
    capacity: { connections: number; roomSize: number; workers: number; targets: ClusterTargetKind[] };
  };
  redis: { command: string | null; version: string | null };
  runs: ClusterRun[];
  /** two / one (the headline), one / plain (what `redisUrl` costs one server), two / plain. */
  comparisons: ClusterComparison[];
  /** p99 (ms) at the 10k delivered/s step, per target and mode, per round (null: the step did not run). */
  p99At10k: { target: ClusterTargetKind; mode: Mode; perRound: (number | null)[]; median: number | null }[];
  capacity: ClusterCapacityRun[];
}

const SERVERS: Record<ClusterTargetKind, number> = { plain: 1, one: 1, two: 2 };

export async function runCluster(config: BenchConfig, pool: WorkerPool): Promise<ClusterResult> {
  const c = config.cluster;
  const f = config.fanout;
  const log = config.log ?? (() => {});
  const result: ClusterResult = {
    status: 'ran',
    reason: '',
    config: {
      targets: c.targets,
      modes: c.modes,
      rooms: f.rooms,
      clientsPerRoom: f.clientsPerRoom,
      steps: f.steps,
      warmupMs: f.warmupMs,
      measureMs: f.measureMs,
      window: f.window,
      workers: f.workers,
      capacity: { connections: c.capacity.connections, roomSize: c.capacity.roomSize, workers: 0, targets: c.capacity.targets },
    },
    redis: { command: null, version: null },
    runs: [],
    comparisons: [],
    p99At10k: [],
    capacity: [],
  };
  const why = redisUnavailable();
  if (why) {
    log(`cluster: not run: ${why}`);
    return { ...result, status: 'not run', reason: why };
  }
  const workers = await pool.get(f.workers);
  for (const mode of c.modes) {
    for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
      for (const target of c.targets) {
        log(`cluster ${mode} round ${roundNo + 1}/${config.rounds}: ${label(target)}`);
        const run = await oneRun(config, workers, pool, target, mode, roundNo, result);
        result.runs.push(run);
        if (run.error) log(`  failed: ${run.error}`);
        else log(`  max ${run.max ? `${Math.round(run.max.deliveredPerS)} msg/s, ${run.max.msgsPerCpuS ?? '?'} msgs/CPU-s` : '-'}${run.saturatedAt ? `, saturated at ${run.saturatedAt}/s` : ''}`);
      }
    }
  }
  for (const mode of c.modes) {
    for (const [subject, baseline] of [['two', 'one'], ['one', 'plain'], ['two', 'plain']] as const) {
      if (c.targets.includes(subject) && c.targets.includes(baseline)) result.comparisons.push(compare(result.runs, config.rounds, mode, subject, baseline));
    }
    for (const target of c.targets) {
      const perRound = result.runs
        .filter((r) => r.mode === mode && r.target === target)
        .map((r) => r.steps.find((s) => s.offeredPerS === 10_000)?.p99Ms ?? null);
      const m = median(perRound.filter((v): v is number => v !== null));
      result.p99At10k.push({ target, mode, perRound, median: m === null ? null : round(m, 2) });
    }
  }
  if (c.capacity.targets.length > 0 && c.capacity.connections > 0) result.capacity = await runCapacity(config, pool, result);
  return result;
}

export const label = (t: ClusterTargetKind): string => ({ plain: 'one server, no Redis', one: 'one server + Redis', two: 'two servers + Redis' })[t];

// ---------------------------------------------------------------- the deployments

interface Deployment {
  servers: TargetProcess[];
  redis: RedisServer | null;
  stop(): Promise<void>;
}

async function deploy(
  target: ClusterTargetKind,
  options: { exposeGc?: boolean; profile?: { dir: string; name: string } },
  result: ClusterResult,
): Promise<Deployment> {
  const redis = target === 'plain' ? null : await startRedis();
  const servers: TargetProcess[] = [];
  const stop = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await redis?.stop();
  };
  try {
    if (redis && result.redis.command === null) {
      result.redis.command = redis.commandLine;
      result.redis.version = (await redis.info('server'))['redis_version'] ?? null;
    }
    const ourOptions = redis ? { redisUrl: redis.url } : {};
    const started = await Promise.allSettled(
      Array.from({ length: SERVERS[target] }, (_, i) =>
        startTarget('ours', {
          ourOptions,
          ...(options.exposeGc ? { exposeGc: true } : {}),
          ...(options.profile ? { profile: { dir: options.profile.dir, name: `${options.profile.name}${SERVERS[target] > 1 ? `-${'ab'[i]}` : ''}` } } : {}),
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return { servers, redis, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------- message load

async function oneRun(
  config: BenchConfig,
  workers: LoadWorker[],
  pool: WorkerPool,
  target: ClusterTargetKind,
  mode: Mode,
  roundNo: number,
  result: ClusterResult,
): Promise<ClusterRun> {
  const f = config.fanout;
  const n = SERVERS[target];
  const run: ClusterRun = {
    target,
    mode,
    round: roundNo,
    servers: n,
    rooms: f.rooms,
    clientsPerRoom: f.clientsPerRoom,
    clientsPerServer: Array.from({ length: n }, (_, s) => {
      let count = 0;
      for (let r = 0; r < f.rooms; r++) for (let idx = 0; idx < f.clientsPerRoom; idx++) if ((idx + r) % n === s) count++;
      return count;
    }),
    steps: [],
    max: null,
    saturatedAt: null,
    loadWindowUs: null,
    redis: null,
    error: null,
  };
  let deployment: Deployment | null = null;
  try {
    const profile = config.profile && target !== 'plain' ? { dir: config.profile.dir, name: `cluster-${mode}-${target}-r${roundNo}` } : undefined;
    deployment = await deploy(target, profile ? { profile } : {}, result);
    const d = deployment;
    const bases = d.servers.map((s) => s.base);
    const generatorPids = pool.pids();
    if (d.redis) await d.redis.command(['CONFIG', 'RESETSTAT']);
    const redisCpu0 = d.redis?.cpuSeconds() ?? null;
    await driveLoad(
      f,
      workers,
      { kind: 'ours', base: bases[0]! },
      mode,
      roundNo,
      run,
      async (active, stepLabel, kind, offered) => {
        let extra: ClusterCpu | null = null;
        const step = await measureStep(active, () => clusterMeter(d, generatorPids, (x) => (extra = x)), f.measureMs, stepLabel, kind, offered);
        const x: ClusterCpu = extra ?? { serverCpuPctEach: [], redisCpuS: null, redisCpuPct: null, withRedisCpuS: null, syscalls: null };
        const per = (v: number | undefined) => (v === undefined || step.delivered === 0 ? null : round(v / step.delivered, 3));
        return {
          ...step,
          serverCpuPctEach: x.serverCpuPctEach,
          redisCpuS: x.redisCpuS,
          redisCpuPct: x.redisCpuPct,
          msgsPerCpuSWithRedis: x.withRedisCpuS ? round(step.delivered / x.withRedisCpuS, 0) : null,
          readsPerMsg: per(x.syscalls?.reads),
          writesPerMsg: per(x.syscalls?.writes),
        };
      },
      // Client idx of room r on server (idx + r) mod n: each room split, half the clients on each server.
      n > 1 ? (r) => Array.from({ length: n }, (_, i) => bases[(i + r) % n]!) : undefined,
    );
    if (d.redis) run.redis = await redisLoadStats(d.redis, redisCpu0);
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await Promise.allSettled(workers.map((w) => w.request({ op: 'teardown' }, 10_000)));
    await deployment?.stop();
  }
  return run;
}

/**
 * The CPU of a window: the servers' summed (the headline's "server CPU"),
 * each server's, redis-server's, the generators', the rest of the machine.
 */
interface ClusterCpu {
  serverCpuPctEach: (number | null)[];
  redisCpuS: number | null;
  redisCpuPct: number | null;
  /** Servers + redis-server, seconds (for one server without Redis: the server's). */
  withRedisCpuS: number | null;
  /** The servers' system calls over the window, summed. */
  syscalls: { reads: number; writes: number } | null;
}

function clusterMeter(d: Deployment, generatorPids: number[], extra: (x: ClusterCpu) => void): () => CpuWindow {
  const t0 = performance.now();
  const read = () => ({
    servers: d.servers.map((s) => s.cpuSeconds()),
    io: d.servers.map((s) => procSyscalls(s.pid)),
    redis: d.redis?.cpuSeconds() ?? null,
    gen: sumCpu(generatorPids),
    machine: machineCpu(),
  });
  const a = read();
  return () => {
    const b = read();
    const seconds = (performance.now() - t0) / 1000;
    const each = b.servers.map((v, i) => (v === null || a.servers[i] === null ? null : v - a.servers[i]!));
    const serverCpuS = each.some((v) => v === null) ? null : each.reduce<number>((x, v) => x + v!, 0);
    const redisCpuS = d.redis ? (a.redis === null || b.redis === null ? null : b.redis - a.redis) : 0;
    const genS = a.gen === null || b.gen === null ? null : b.gen - a.gen;
    const machineS = a.machine && b.machine ? b.machine.busy - a.machine.busy : null;
    const pct = (v: number | null) => (v === null ? null : round((100 * v) / seconds, 0));
    const withRedis = serverCpuS === null || redisCpuS === null ? null : serverCpuS + redisCpuS;
    extra({
      serverCpuPctEach: each.map(pct),
      redisCpuS: d.redis && redisCpuS !== null ? round(redisCpuS, 3) : null,
      redisCpuPct: d.redis ? pct(redisCpuS) : null,
      withRedisCpuS: withRedis,
      syscalls: a.io.some((v) => v === null) || b.io.some((v) => v === null)
        ? null
        : b.io.reduce<{ reads: number; writes: number }>((acc, v, i) => ({ reads: acc.reads + v!.reads - a.io[i]!.reads, writes: acc.writes + v!.writes - a.io[i]!.writes }), { reads: 0, writes: 0 }),
    });
    return {
      seconds,
      serverCpuS: serverCpuS === null ? null : round(serverCpuS, 3),
      generatorCpuPct: pct(genS),
      otherCpuPct:
        machineS === null || withRedis === null || genS === null ? null : round(Math.max(0, (100 * (machineS - withRedis - genS)) / seconds), 0),
    };
  };
}

async function redisLoadStats(redis: RedisServer, cpu0: number | null): Promise<RedisLoadStats> {
  const stats = await redis.info('commandstats');
  const field = (cmd: string, key: string): number | null => {
    const m = new RegExp(`(?:^|,)${key}=([0-9.]+)`).exec(stats[`cmdstat_${cmd}`] ?? '');
    return m ? Number(m[1]) : null;
  };
  const cpu1 = redis.cpuSeconds();
  return {
    publishCalls: field('publish', 'calls') ?? 0,
    publishUsecPerCall: field('publish', 'usec_per_call'),
    evalCalls: (field('evalsha', 'calls') ?? 0) + (field('eval', 'calls') ?? 0),
    cpuS: cpu0 === null || cpu1 === null ? null : round(cpu1 - cpu0, 3),
  };
}

function compare(runs: ClusterRun[], rounds: number, mode: Mode, subject: ClusterTargetKind, baseline: ClusterTargetKind): ClusterComparison {
  const t: number[] = [];
  const e: number[] = [];
  const er: number[] = [];
  const baselineCpuPct: (number | null)[] = [];
  const subjectCpuPct: (number | null)[] = [];
  for (let roundNo = 0; roundNo < rounds; roundNo++) {
    const a = runs.find((r) => r.mode === mode && r.round === roundNo && r.target === subject && !r.error)?.max;
    const b = runs.find((r) => r.mode === mode && r.round === roundNo && r.target === baseline && !r.error)?.max;
    if (!a || !b) continue;
    baselineCpuPct.push(b.serverCpuPct);
    subjectCpuPct.push(a.serverCpuPct);
    if (b.deliveredPerS > 0) t.push(round(a.deliveredPerS / b.deliveredPerS, 3));
    if (a.msgsPerCpuS !== null && b.msgsPerCpuS) e.push(round(a.msgsPerCpuS / b.msgsPerCpuS, 3));
    if (a.msgsPerCpuSWithRedis !== null && b.msgsPerCpuSWithRedis) er.push(round(a.msgsPerCpuSWithRedis / b.msgsPerCpuSWithRedis, 3));
  }
  const med = (v: number[]) => {
    const m = median(v);
    return m === null ? null : round(m, 3);
  };
  return {
    mode,
    subject,
    baseline,
    throughputRatios: t,
    efficiencyRatios: e,
    efficiencyWithRedisRatios: er,
    throughputRatio: med(t),
    efficiencyRatio: med(e),
    efficiencyWithRedisRatio: med(er),
    baselineCpuPct,
    subjectCpuPct,
  };
}

// ---------------------------------------------------------------- capacity

async function runCapacity(config: BenchConfig, pool: WorkerPool, result: ClusterResult): Promise<ClusterCapacityRun[]> {
  const c = config.cluster.capacity;
  const log = config.log ?? (() => {});
  const limits = fileLimits();
  const out: ClusterCapacityRun[] = [];
  for (const target of c.targets) {
    const n = SERVERS[target];
    let connections = c.connections;
    // Each server holds its share of the sockets in one process.
    if (limits && Number.isFinite(limits.hard) && Math.ceil(connections / n) + 200 > limits.hard) {
      connections = (limits.hard - 200) * n;
      log(`cluster capacity: the hard open-file limit is ${limits.hard}: capping at ${connections} connections`);
    }
    const workerCount = Math.max(1, Math.ceil(connections / c.perWorker));
    result.config.capacity.workers = Math.max(result.config.capacity.workers, workerCount);
    const workers = await pool.get(workerCount);
    log(`cluster capacity: ${label(target)}, ${connections} idle connections in rooms of ${c.roomSize} over ${workerCount} processes`);
    const run: ClusterCapacityRun = {
      target,
      requested: connections,
      connected: 0,
      failed: 0,
      firstError: null,
      rooms: 0,
      connectPerS: null,
      servers: [],
      redis: { usedMemoryBefore: null, usedMemoryAfter: null, bytesPerMember: null, rssBeforeKiB: null, rssAfterKiB: null, keysAfter: null },
      error: null,
    };
    let deployment: Deployment | null = null;
    try {
      deployment = await deploy(target, { exposeGc: true }, result);
      const d = deployment;
      const bases = d.servers.map((s) => s.base);
      const ref = { kind: 'ours' as const, base: bases[0]! };
      if (c.warmup > 0) {
        await workers[0]!.request({ op: 'idle', target: ref, bases, count: c.warmup, roomSize: c.roomSize, roomPrefix: 'warm-', clientPrefix: 'warm-', localAddresses: [], concurrency: c.concurrency, timeoutMs: 10_000 }, 60_000);
        await workers[0]!.request({ op: 'teardown' });
        await sleep(500);
      }
      const shares = split(connections, workers.length);
      // Client i of a worker goes to bases[i % n]: rooms of 4 are 2 + 2.
      run.servers = d.servers.map((_, s) => ({
        connections: shares.reduce((a, share) => a + Math.floor(share / n) + (s < share % n ? 1 : 0), 0),
        rssBeforeKiB: null,
        rssAfterKiB: null,
        perConnKiB: null,
        perMemberKiB: null,
        heapPerConnKiB: null,
      }));
      run.rooms = shares.reduce((a, share) => a + Math.ceil(share / c.roomSize), 0);
      const before = await Promise.all(d.servers.map((s) => s.usage(true)));
      await sleep(200);
      d.servers.forEach((s, i) => (run.servers[i]!.rssBeforeKiB = s.rssKiB()));
      run.redis.usedMemoryBefore = await usedMemory(d.redis);
      run.redis.rssBeforeKiB = d.redis?.rssKiB() ?? null;
      Object.assign(run, await fillIdle(workers, shares, { target: ref, bases, roomSize: c.roomSize, prefix: 'cap-', concurrency: c.concurrency }));
      await sleep(c.settleMs);
      const after = await Promise.all(d.servers.map((s) => s.usage(true)));
      await sleep(200);
      d.servers.forEach((s, i) => {
        const row = run.servers[i]!;
        row.rssAfterKiB = s.rssKiB();
        if (row.rssBeforeKiB !== null && row.rssAfterKiB !== null && row.connections > 0) {
          row.perConnKiB = round((row.rssAfterKiB - row.rssBeforeKiB) / row.connections, 2);
          if (run.connected > 0) row.perMemberKiB = round((row.rssAfterKiB - row.rssBeforeKiB) / run.connected, 2);
        }
        const b = before[i];
        const a = after[i];
        if (a && b && row.connections > 0) row.heapPerConnKiB = round((a.heapUsed - b.heapUsed) / 1024 / row.connections, 2);
      });
      run.redis.usedMemoryAfter = await usedMemory(d.redis);
      run.redis.rssAfterKiB = d.redis?.rssKiB() ?? null;
      if (d.redis) run.redis.keysAfter = Number(await d.redis.command(['DBSIZE']));
      if (run.redis.usedMemoryBefore !== null && run.redis.usedMemoryAfter !== null && run.connected > 0) {
        run.redis.bytesPerMember = round((run.redis.usedMemoryAfter - run.redis.usedMemoryBefore) / run.connected, 0);
      }
      log(
        `  ${run.connected} held (${run.failed} failed), ${run.servers.map((s) => `${s.perConnKiB ?? '?'}`).join(' / ')} KiB RSS per connection per server, ` +
          `Redis ${run.redis.bytesPerMember ?? '-'} B per member, ${run.connectPerS}/s while filling`,
      );
    } catch (err) {
      run.error = errorText(err);
      log(`  failed: ${run.error}`);
    } finally {
      await tearDown(workers, null, 30_000);
      await deployment?.stop();
    }
    out.push(run);
  }
  return out;
}

async function usedMemory(redis: RedisServer | null): Promise<number | null> {
  if (!redis) return null;
  const v = Number((await redis.info('memory'))['used_memory']);
  return Number.isFinite(v) ? v : null;
}
