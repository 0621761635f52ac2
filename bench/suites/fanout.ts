/**
 * Suite 1, signaling fan-out: R rooms × K clients, each message a trickled
 * ICE candidate stamped with its send time. Open-loop steps at ramped
 * delivered rates give latency at a known load; a closed-loop step (a window
 * of messages in flight per room) gives the most the server delivers.
 * Broadcast compares ours with the bare relay and y-webrtc; unicast (`to`)
 * compares ours with the bare relay and PeerJS. Targets alternate per round
 * (A B C A B C …), each run on a freshly started server.
 */
import type { BenchConfig, FanoutConfig } from '../lib/config.js';
import { nowUs } from '../lib/hist.js';
import { sleep, startTarget } from '../lib/procs.js';
import type { LoadWorker, TargetProcess, WorkerPool } from '../lib/procs.js';
import type { Mode, TargetKind } from '../lib/protocols.js';
import type { LoadStats, TargetRef } from '../load/messages.js';
import { cpuMeter, errorText, median, merge, round, tearDown } from './common.js';
import type { CpuWindow } from './common.js';

export interface StepResult {
  label: string;
  kind: 'open' | 'max';
  /** Delivered messages per second asked for (open loop); null for the max step. */
  offeredPerS: number | null;
  windowS: number;
  sent: number;
  delivered: number;
  deliveredPerS: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  serverCpuS: number | null;
  /** Server CPU, percent of one core. */
  serverCpuPct: number | null;
  /** Delivered messages per server CPU-second. */
  msgsPerCpuS: number | null;
  generatorCpuPct: number | null;
  otherCpuPct: number | null;
  skipped: number;
  lagged: number;
  lost: number;
  selfEcho: number;
}

export interface FanoutRun {
  target: TargetKind;
  mode: Mode;
  round: number;
  rooms: number;
  clientsPerRoom: number;
  steps: StepResult[];
  max: StepResult | null;
  /** The open-loop ramp stopped early: the server could not deliver the offered rate. */
  saturatedAt: number | null;
  /** From the first measurement window's start to the last one's end, µs on the monotonic clock (for profiles). */
  loadWindowUs: { fromUs: number; toUs: number } | null;
  error: string | null;
}

export interface Comparison {
  mode: Mode;
  subject: TargetKind;
  baseline: TargetKind;
  /** Per round: subject / baseline of the max step's delivered msgs/s. */
  throughputRatios: number[];
  /** Per round: subject / baseline of delivered msgs per server CPU-second (max step). */
  efficiencyRatios: number[];
  throughputRatio: number | null;
  efficiencyRatio: number | null;
  /** Per round: the baseline server's CPU (% of one core) in the max step; under ~90 it was not the bottleneck. */
  baselineCpuPct: (number | null)[];
  subjectCpuPct: (number | null)[];
}

export interface FanoutResult {
  config: { rooms: number; clientsPerRoom: number; steps: number[]; warmupMs: number; measureMs: number; window: number; workers: number };
  runs: FanoutRun[];
  comparisons: Comparison[];
  /** p99 latency (ms) of our broadcast at the 10k delivered/s step, per round (null when that step did not run). */
  oursP99At10k: (number | null)[];
  skipped: { target: TargetKind; mode: Mode; reason: string }[];
}

export async function runFanout(config: BenchConfig, pool: WorkerPool, unavailable: (k: TargetKind) => string | null): Promise<FanoutResult> {
  const f = config.fanout;
  const log = config.log ?? (() => {});
  const runs: FanoutRun[] = [];
  const skipped: FanoutResult['skipped'] = [];
  const workers = await pool.get(f.workers);
  for (const mode of ['broadcast', 'unicast'] as const) {
    const targets = f.targets[mode].filter((kind) => {
      const why = unavailable(kind);
      if (why) skipped.push({ target: kind, mode, reason: why });
      return !why;
    });
    for (let round = 0; round < config.rounds; round++) {
      for (const target of targets) {
        log(`fan-out ${mode} round ${round + 1}/${config.rounds}: ${target}`);
        const run = await oneRun(config, workers, pool, target, mode, round);
        runs.push(run);
        if (run.error) log(`  failed: ${run.error}`);
        else log(`  max ${run.max ? `${Math.round(run.max.deliveredPerS)} msg/s` : '-'}${run.saturatedAt ? `, saturated at ${run.saturatedAt}/s` : ''}`);
      }
    }
  }
  const comparisons: Comparison[] = [];
  for (const mode of ['broadcast', 'unicast'] as const) {
    for (const baseline of f.targets[mode].slice(1)) {
      const t: number[] = [];
      const e: number[] = [];
      const baselineCpuPct: (number | null)[] = [];
      const subjectCpuPct: (number | null)[] = [];
      for (let round = 0; round < config.rounds; round++) {
        const a = runs.find((r) => r.mode === mode && r.round === round && r.target === 'ours' && !r.error)?.max;
        const b = runs.find((r) => r.mode === mode && r.round === round && r.target === baseline && !r.error)?.max;
        if (!a || !b) continue;
        baselineCpuPct.push(b.serverCpuPct);
        subjectCpuPct.push(a.serverCpuPct);
        if (b.deliveredPerS > 0) t.push(round3(a.deliveredPerS / b.deliveredPerS));
        if (a.msgsPerCpuS !== null && b.msgsPerCpuS) e.push(round3(a.msgsPerCpuS / b.msgsPerCpuS));
      }
      if (t.length || e.length || !skipped.some((s) => s.mode === mode && s.target === baseline)) {
        comparisons.push({ mode, subject: 'ours', baseline, throughputRatios: t, efficiencyRatios: e, throughputRatio: med(t), efficiencyRatio: med(e), baselineCpuPct, subjectCpuPct });
      }
    }
  }
  const oursP99At10k = runs
    .filter((r) => r.mode === 'broadcast' && r.target === 'ours')
    .map((r) => r.steps.find((s) => s.offeredPerS === 10_000)?.p99Ms ?? null);
  return {
    config: { rooms: f.rooms, clientsPerRoom: f.clientsPerRoom, steps: f.steps, warmupMs: f.warmupMs, measureMs: f.measureMs, window: f.window, workers: f.workers },
    runs,
    comparisons,
    oursP99At10k,
    skipped,
  };
}

const round3 = (v: number) => round(v, 3);
const med = (v: number[]) => {
  const m = median(v);
  return m === null ? null : round3(m);
};

async function oneRun(config: BenchConfig, workers: LoadWorker[], pool: WorkerPool, target: TargetKind, mode: Mode, roundNo: number): Promise<FanoutRun> {
  const f = config.fanout;
  const run: FanoutRun = { target, mode, round: roundNo, rooms: f.rooms, clientsPerRoom: f.clientsPerRoom, steps: [], max: null, saturatedAt: null, loadWindowUs: null, error: null };
  let server: TargetProcess | null = null;
  try {
    const profile = config.profile && (target === 'ours' || target === 'bare') ? { dir: config.profile.dir, name: `fanout-${mode}-${target}-r${roundNo}` } : undefined;
    server = await startTarget(target, profile ? { profile } : {});
    const s = server;
    const generatorPids = pool.pids();
    await driveLoad(f, workers, { kind: target, base: s.base }, mode, roundNo, run, (active, label, kind, offered) =>
      measureStep(active, () => cpuMeter(s, generatorPids), f.measureMs, label, kind, offered),
    );
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await tearDown(workers, server);
  }
  return run;
}

/** Measures one step: `(active workers, label, kind, offered delivered/s or null)`. */
export type StepMeasure = (active: LoadWorker[], label: string, kind: 'open' | 'max', offered: number | null) => Promise<StepResult>;

/**
 * The fan-out load against a target that is up: R rooms × K clients set up
 * over the workers (whole rooms per worker, so that a worker sees every copy
 * of its messages), the open-loop steps until one is not delivered, then the
 * closed-loop max; each step measured by `measure`. `roomBases(r)`: the
 * servers room r's clients connect to, in turn (the cluster suite splits a
 * room over two servers); default `target.base` for all.
 */
export async function driveLoad(
  f: FanoutConfig,
  workers: LoadWorker[],
  target: TargetRef,
  mode: Mode,
  roundNo: number,
  run: Pick<FanoutRun, 'steps' | 'max' | 'saturatedAt' | 'loadWindowUs'>,
  measure: StepMeasure,
  roomBases?: (room: number) => string[],
): Promise<void> {
  const recipients = mode === 'broadcast' ? f.clientsPerRoom - 1 : 1;
  const share = workers.map(() => [] as { name: string; k: number; bases?: string[] }[]);
  for (let r = 0; r < f.rooms; r++) share[r % workers.length]!.push({ name: `fan${r}`, k: f.clientsPerRoom, ...(roomBases ? { bases: roomBases(r) } : {}) });
  const active = workers.filter((_, i) => share[i]!.length > 0);
  await Promise.all(
    active.map((w) =>
      w.request({ op: 'setup', target, mode, rooms: share[w.index]!, clientPrefix: `w${w.index}r${roundNo}`, localAddresses: [], timeoutMs: 10_000 }, 60_000),
    ),
  );
  await sleep(200);
  const fromUs = nowUs();
  for (const offered of f.steps) {
    const sendRate = offered / recipients;
    await Promise.all(active.map((w) => w.request({ op: 'rate', perSecond: (sendRate * share[w.index]!.length) / f.rooms })));
    await sleep(f.warmupMs);
    const step = await measure(active, `${offered}/s`, 'open', offered);
    run.steps.push(step);
    if (step.deliveredPerS < 0.8 * offered) {
      run.saturatedAt = offered;
      break;
    }
  }
  await Promise.all(active.map((w) => w.request({ op: 'stop-load' })));
  if (f.window > 0) {
    await sleep(300);
    const messages = Math.max(1, Math.ceil(f.window / recipients));
    await Promise.all(active.map((w) => w.request({ op: 'closed', window: messages })));
    await sleep(f.warmupMs);
    run.max = await measure(active, 'max', 'max', null);
    await Promise.all(active.map((w) => w.request({ op: 'stop-load' })));
  }
  run.loadWindowUs = { fromUs, toUs: nowUs() };
}

/**
 * One measurement window: the workers count from now, `meter` reads CPU
 * from now; after `windowMs` both are read. The server CPU is what the
 * meter calls the server (the sum of a cluster's servers in the cluster suite).
 */
export async function measureStep(
  workers: LoadWorker[],
  meter: () => () => CpuWindow,
  windowMs: number,
  label: string,
  kind: 'open' | 'max',
  offered: number | null,
): Promise<StepResult> {
  await Promise.all(workers.map((w) => w.request({ op: 'measure-start' })));
  const read = meter();
  await sleep(windowMs);
  const cpu = read();
  const stats = await Promise.all(workers.map((w) => w.request<LoadStats>({ op: 'measure-stop' })));
  const hist = merge(stats);
  const sum = (key: 'sent' | 'delivered' | 'skipped' | 'lagged' | 'lost' | 'selfEcho') => stats.reduce((a, s) => a + s[key], 0);
  // Each worker counted over its own window; rates use the mean of them.
  const windowS = stats.reduce((a, s) => a + s.windowMs, 0) / stats.length / 1000;
  const delivered = sum('delivered');
  return {
    label,
    kind,
    offeredPerS: offered,
    windowS: round(windowS, 3),
    sent: sum('sent'),
    delivered,
    deliveredPerS: round(delivered / windowS, 0),
    p50Ms: roundMs(hist.quantileMs(0.5)),
    p99Ms: roundMs(hist.quantileMs(0.99)),
    maxMs: roundMs(hist.total ? hist.maxUs / 1000 : null),
    serverCpuS: cpu.serverCpuS,
    serverCpuPct: cpu.serverCpuS === null ? null : round((100 * cpu.serverCpuS) / cpu.seconds, 0),
    msgsPerCpuS: cpu.serverCpuS ? round(delivered / cpu.serverCpuS, 0) : null,
    generatorCpuPct: cpu.generatorCpuPct,
    otherCpuPct: cpu.otherCpuPct,
    skipped: sum('skipped'),
    lagged: sum('lagged'),
    lost: sum('lost'),
    selfEcho: sum('selfEcho'),
  };
}

const roundMs = (v: number | null) => (v === null ? null : round(v, 2));
