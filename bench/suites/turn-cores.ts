/**
 * TURN on every core (issue 13), part of `--only turn`: UDP relay through
 * our server with one relay thread and with two (`turnThreads` 1 and 2) and
 * through coturn (`--relay-threads` pinned to the same 2, or its default),
 * alternating per round (threads1, threads2, coturn, threads1 …), each on a
 * freshly started server, the same load: `workers` client processes
 * (bench/load/turn-client.ts) holding `sessions` allocations in all, each on
 * a UDP socket of its own, so that the kernel's SO_REUSEPORT hash of the
 * 4-tuple spreads them over the threads. The split is read from the
 * server's `/metrics` (`webrtc_turn_thread_allocations{thread}`), the CPU
 * of each of its threads from /proc/<pid>/task.
 *
 * Then signaling under TURN load: the same TURN load against our server
 * with `turnThreads` 0 (TURN on the main thread, with signaling) and 2,
 * alternating, plus a light signaling load from a process of its own
 * (`rooms` rooms of `roomSize`, each member broadcasting `perMemberPerS`
 * msgs/s, open loop) whose end-to-end latency is measured over the same
 * window as the TURN load.
 *
 * The machine may have 2 cores shared with the load generators, the echo
 * peer and whatever else runs: the report prints their CPU next to the server's.
 */
import type { BenchConfig, TurnCoresConfig } from '../lib/config.js';
import type { Headline } from '../run.js';
import { COTURN_BIN, procThreadCpu, sleep, startCoturn, startEchoPeer } from '../lib/procs.js';
import type { LoadWorker, UdpProcess, WorkerPool } from '../lib/procs.js';
import { BENCH_PASSWORD } from '../lib/protocols.js';
import { cpuMeter, errorText, round, roundedMedian, tearDown } from './common.js';
import { measureStep } from './fanout.js';
import type { StepResult } from './fanout.js';
import { scrape } from './soak.js';
import { measureTurn, openSessions, startTurnLoad, stopTurnLoad, TURN_REALM, TURN_USER } from './turn-load.js';
import type { TurnServerRef, TurnWindow } from './turn-load.js';
import { relayBlock, startOursTurn } from './turn.js';

export type CoresTarget = 'threads1' | 'threads2' | 'coturn';
export const CORES_TARGETS: readonly CoresTarget[] = ['threads1', 'threads2', 'coturn'];

/** One thread of the server process over the window (threads under 1 % left out). */
export interface ThreadLoad {
  name: string;
  /** Percent of one core. */
  cpuPct: number;
}

export interface CoresRun {
  target: CoresTarget;
  round: number;
  sessions: number;
  failedSessions: number;
  window: TurnWindow | null;
  /** Allocations held by each relay thread (ours), from /metrics. */
  allocationsPerThread: number[] | null;
  /** The server's threads, busiest first. */
  threads: ThreadLoad[];
  error: string | null;
}

export interface SignalingUnderLoadRun {
  turnThreads: number;
  round: number;
  sessions: number;
  /** The TURN load over the signaling window. */
  turn: TurnWindow | null;
  /** The signaling load's window: delivered, latency (p50, p99, max), server CPU. */
  signaling: StepResult | null;
  allocationsPerThread: number[] | null;
  threads: ThreadLoad[];
  error: string | null;
}

export interface TurnCoresResult {
  status: 'ran' | 'not run';
  reason: string;
  config: TurnCoresConfig;
  /** coturn's command line (of the last run). */
  coturn: string | null;
  runs: CoresRun[];
  signalingRuns: SignalingUnderLoadRun[];
  /** Per round: relayed pkt/s, 2 threads / 1 thread. */
  scalingRatios: number[];
  scalingRatio: number | null;
  /** Per round: relayed packets per server CPU-s, 2 threads / 1 thread. */
  cpuScalingRatios: number[];
  cpuScalingRatio: number | null;
  /** Per round: relayed packets per server CPU-s, ours with 2 threads / coturn (and with 1 thread). */
  vsCoturnRatios: number[];
  vsCoturnRatio: number | null;
  vsCoturn1Ratios: number[];
  vsCoturn1Ratio: number | null;
  /** Per round: relayed pkt/s, ours with 2 threads / coturn. */
  vsCoturnThroughputRatios: number[];
  vsCoturnThroughputRatio: number | null;
  /** Per turnThreads value ("0", "2"): signaling p99 (ms) per round, and the median. */
  signalingP99Ms: Record<string, (number | null)[]>;
  signalingP99Median: Record<string, number | null>;
}

export async function runTurnCores(config: BenchConfig, pool: WorkerPool): Promise<TurnCoresResult> {
  const c = config.turn.cores;
  const log = config.log ?? (() => {});
  const result: TurnCoresResult = {
    status: 'ran',
    reason: '',
    config: c,
    coturn: null,
    runs: [],
    signalingRuns: [],
    scalingRatios: [],
    scalingRatio: null,
    cpuScalingRatios: [],
    cpuScalingRatio: null,
    vsCoturnRatios: [],
    vsCoturnRatio: null,
    vsCoturn1Ratios: [],
    vsCoturn1Ratio: null,
    vsCoturnThroughputRatios: [],
    vsCoturnThroughputRatio: null,
    signalingP99Ms: {},
    signalingP99Median: {},
  };
  const targets = c.targets.filter((k) => k !== 'coturn' || COTURN_BIN !== null);
  if (targets.length < c.targets.length) result.reason = 'coturn is not installed (apt-get install coturn): no ratio to coturn';
  // TURN load on workers 0..n-1, signaling on worker n (a process of its own: its latency is not the TURN clients').
  const workers = await pool.get(c.workers + 1);
  const turnWorkers = workers.slice(0, c.workers);
  const sigWorker = workers[c.workers]!;
  let peer: UdpProcess | null = null;
  try {
    peer = await startEchoPeer();
    for (let roundNo = 0; roundNo < c.rounds; roundNo++) {
      for (const target of targets) {
        log(`turn on every core round ${roundNo + 1}/${c.rounds}: ${target}`);
        const run = await coresRun(c, turnWorkers, pool, peer, target, roundNo, result);
        result.runs.push(run);
        if (run.error) log(`  failed: ${run.error}`);
        else log(`  ${run.window!.relayedPerS} relayed pkt/s, ${run.window!.pktsPerCpuS ?? '?'} per CPU-s (${run.window!.serverCpuPct ?? '?'}% CPU; threads ${threadsText(run.threads)}; allocations ${run.allocationsPerThread?.join('/') ?? '-'})`);
      }
    }
    for (let roundNo = 0; roundNo < c.rounds; roundNo++) {
      for (const turnThreads of c.signaling.turnThreads) {
        log(`signaling under TURN load round ${roundNo + 1}/${c.rounds}: turnThreads ${turnThreads}`);
        const run = await signalingRun(c, turnWorkers, sigWorker, pool, peer, turnThreads, roundNo);
        result.signalingRuns.push(run);
        if (run.error) log(`  failed: ${run.error}`);
        else log(`  signaling p99 ${run.signaling!.p99Ms ?? '?'} ms while TURN relays ${run.turn!.relayedPerS} pkt/s (${run.turn!.serverCpuPct ?? '?'}% CPU)`);
      }
    }
  } catch (err) {
    result.status = 'not run';
    result.reason = `the echo peer did not start: ${errorText(err)}`;
  } finally {
    await peer?.stop();
  }
  summarize(result);
  return result;
}

function summarize(result: TurnCoresResult): void {
  const ok = (target: CoresTarget, roundNo: number) => result.runs.find((r) => r.round === roundNo && r.target === target && !r.error)?.window ?? null;
  for (let roundNo = 0; roundNo < result.config.rounds; roundNo++) {
    const one = ok('threads1', roundNo);
    const two = ok('threads2', roundNo);
    const coturn = ok('coturn', roundNo);
    if (one && two && one.relayedPerS > 0) result.scalingRatios.push(round(two.relayedPerS / one.relayedPerS, 3));
    if (one?.pktsPerCpuS && two?.pktsPerCpuS) result.cpuScalingRatios.push(round(two.pktsPerCpuS / one.pktsPerCpuS, 3));
    if (two?.pktsPerCpuS && coturn?.pktsPerCpuS) result.vsCoturnRatios.push(round(two.pktsPerCpuS / coturn.pktsPerCpuS, 3));
    if (one?.pktsPerCpuS && coturn?.pktsPerCpuS) result.vsCoturn1Ratios.push(round(one.pktsPerCpuS / coturn.pktsPerCpuS, 3));
    if (two && coturn && coturn.relayedPerS > 0) result.vsCoturnThroughputRatios.push(round(two.relayedPerS / coturn.relayedPerS, 3));
  }
  result.scalingRatio = roundedMedian(result.scalingRatios);
  result.cpuScalingRatio = roundedMedian(result.cpuScalingRatios);
  result.vsCoturnRatio = roundedMedian(result.vsCoturnRatios);
  result.vsCoturn1Ratio = roundedMedian(result.vsCoturn1Ratios);
  result.vsCoturnThroughputRatio = roundedMedian(result.vsCoturnThroughputRatios);
  for (const threads of result.config.signaling.turnThreads) {
    const key = String(threads);
    const p99s: (number | null)[] = [];
    for (let roundNo = 0; roundNo < result.config.rounds; roundNo++) {
      const run = result.signalingRuns.find((r) => r.round === roundNo && r.turnThreads === threads && !r.error);
      p99s.push(run?.signaling?.p99Ms ?? null);
    }
    result.signalingP99Ms[key] = p99s;
    result.signalingP99Median[key] = roundedMedian(p99s.filter((v): v is number => v !== null), 2);
  }
}

/** Our server with `turnThreads` relay threads, or coturn; with what to read its thread split from. */
async function startServer(target: CoresTarget | { turnThreads: number }, c: TurnCoresConfig, result: TurnCoresResult | null): Promise<TurnServerRef & { signalingBase: string | null; metricsPort: number | null }> {
  if (target === 'coturn') {
    const coturn = await startCoturn({ user: TURN_USER, password: BENCH_PASSWORD, realm: TURN_REALM, relayPorts: relayBlock(1), relayThreads: c.coturnRelayThreads });
    if (result) result.coturn = coturn.command;
    return Object.assign(coturn, { signalingBase: null, metricsPort: null });
  }
  const turnThreads = typeof target === 'object' ? target.turnThreads : target === 'threads1' ? 1 : 2;
  const ours = await startOursTurn({ turnThreads });
  return { port: ours.turnPort, pid: ours.pid, cpuSeconds: () => ours.cpuSeconds(), stop: () => ours.stop(), signalingBase: ours.base, metricsPort: ours.port };
}

/** Allocations per relay thread, from the server's /metrics (null: not ours, or no threads). */
async function allocationSplit(metricsPort: number | null): Promise<number[] | null> {
  if (metricsPort === null) return null;
  const metrics = await scrape(metricsPort).catch(() => null);
  if (!metrics) return null;
  const split: number[] = [];
  for (let thread = 1; metrics.has(`webrtc_turn_thread_allocations{thread="${thread}"}`); thread++) split.push(metrics.get(`webrtc_turn_thread_allocations{thread="${thread}"}`)!);
  return split.length ? split : null;
}

/** Each thread's share of a core between two readings of /proc/<pid>/task, busiest first (over 1 %). */
function threadLoads(before: ReturnType<typeof procThreadCpu>, after: ReturnType<typeof procThreadCpu>, seconds: number): ThreadLoad[] {
  if (!before || !after || seconds <= 0) return [];
  const out: ThreadLoad[] = [];
  for (const [tid, now] of after) {
    const pct = round((100 * (now.cpuS - (before.get(tid)?.cpuS ?? 0))) / seconds, 0);
    if (pct >= 1) out.push({ name: now.name, cpuPct: pct });
  }
  return out.sort((a, b) => b.cpuPct - a.cpuPct);
}

export function threadsText(threads: ThreadLoad[]): string {
  return threads.length ? threads.map((t) => `${t.name} ${t.cpuPct}%`).join(', ') : '-';
}

/** A window of `measure` with the server's per-thread CPU around it. */
async function withThreadLoads<T>(pid: number, measure: () => Promise<T>): Promise<{ value: T; threads: ThreadLoad[] }> {
  const before = procThreadCpu(pid);
  const t0 = performance.now();
  const value = await measure();
  const threads = threadLoads(before, procThreadCpu(pid), (performance.now() - t0) / 1000);
  return { value, threads };
}

async function coresRun(
  c: TurnCoresConfig,
  workers: LoadWorker[],
  pool: WorkerPool,
  peer: UdpProcess,
  target: CoresTarget,
  roundNo: number,
  result: TurnCoresResult,
): Promise<CoresRun> {
  const run: CoresRun = { target, round: roundNo, sessions: 0, failedSessions: 0, window: null, allocationsPerThread: null, threads: [], error: null };
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    server = await startServer(target, c, result);
    const opened = await openSessions(workers, c, server.port, peer);
    run.sessions = opened.sessions;
    run.failedSessions = opened.failed;
    run.allocationsPerThread = await allocationSplit(server.metricsPort);
    await startTurnLoad(opened.active, c.window);
    await sleep(c.warmupMs);
    const srv = server;
    const measured = await withThreadLoads(srv.pid, () => measureTurn(opened.active, srv, [...pool.pids(), peer.pid], c.measureMs));
    run.window = measured.value;
    run.threads = measured.threads;
    await stopTurnLoad(opened.active);
    if (run.window.echoed === 0) throw new Error(`nothing came back through ${target} (sent ${run.window.sent}; first setup error: ${opened.firstError ?? 'none'})`);
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await tearDown(workers, server);
  }
  return run;
}

async function signalingRun(
  c: TurnCoresConfig,
  turnWorkers: LoadWorker[],
  sigWorker: LoadWorker,
  pool: WorkerPool,
  peer: UdpProcess,
  turnThreads: number,
  roundNo: number,
): Promise<SignalingUnderLoadRun> {
  const s = c.signaling;
  const run: SignalingUnderLoadRun = { turnThreads, round: roundNo, sessions: 0, turn: null, signaling: null, allocationsPerThread: null, threads: [], error: null };
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    server = await startServer({ turnThreads }, c, null);
    const srv = server;
    const rooms = Array.from({ length: s.rooms }, (_, r) => ({ name: `under${r}`, k: s.roomSize }));
    await sigWorker.request(
      { op: 'setup', target: { kind: 'ours', base: srv.signalingBase! }, mode: 'broadcast', rooms, clientPrefix: `u${turnThreads}r${roundNo}`, localAddresses: [], timeoutMs: 10_000 },
      60_000,
    );
    const opened = await openSessions(turnWorkers, c, srv.port, peer);
    run.sessions = opened.sessions;
    run.allocationsPerThread = await allocationSplit(srv.metricsPort);
    await startTurnLoad(opened.active, c.window);
    await sigWorker.request({ op: 'rate', perSecond: s.rooms * s.roomSize * s.perMemberPerS });
    await sleep(c.warmupMs);
    const generators = [...pool.pids(), peer.pid];
    const measured = await withThreadLoads(srv.pid, () =>
      Promise.all([
        measureStep([sigWorker], () => cpuMeter(srv, generators), c.measureMs, 'under TURN load', 'open', s.rooms * s.roomSize * s.perMemberPerS * (s.roomSize - 1)),
        measureTurn(opened.active, srv, generators, c.measureMs),
      ]),
    );
    [run.signaling, run.turn] = measured.value;
    run.threads = measured.threads;
    await Promise.all([stopTurnLoad(opened.active), sigWorker.request({ op: 'stop-load' })]);
    if (run.turn.echoed === 0) throw new Error(`nothing came back through TURN (first setup error: ${opened.firstError ?? 'none'})`);
    if (run.signaling.delivered === 0) throw new Error('no signaling message was delivered');
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await tearDown([...turnWorkers, sigWorker], server);
  }
  return run;
}

/** The report's lines for TURN on every core. */
export function formatTurnCores(r: TurnCoresResult, table: (header: string[], rows: (string | number | null)[][]) => string): string[] {
  const c = r.config;
  const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '-' : digits ? v.toFixed(digits) : String(v));
  const ratio = (v: number | null, each: number[]) => `${fmt(v, 2)} (${each.map((x) => x.toFixed(2)).join(', ') || '-'})`;
  if (r.status === 'not run') return [`   TURN on every core: not run: ${r.reason}`];
  return [
    `   TURN on every core: ${c.sessions} sessions over ${c.workers} client processes, ${c.window} packets in flight each; ours with turnThreads 1 and 2, coturn ${c.coturnRelayThreads === null ? 'with its default relay threads' : `--relay-threads=${c.coturnRelayThreads}`}; ${c.rounds} rounds alternating${r.reason ? `; ${r.reason}` : ''}`,
    `   relayed pkt/s 2 threads / 1: ${ratio(r.scalingRatio, r.scalingRatios)}; pkts per CPU-s 2 threads / 1: ${ratio(r.cpuScalingRatio, r.cpuScalingRatios)}`,
    `   pkts per CPU-s ours / coturn: 2 threads ${ratio(r.vsCoturnRatio, r.vsCoturnRatios)}, 1 thread ${ratio(r.vsCoturn1Ratio, r.vsCoturn1Ratios)}; relayed pkt/s 2 threads / coturn ${ratio(r.vsCoturnThroughputRatio, r.vsCoturnThroughputRatios)}`,
    table(
      ['target', 'rnd', 'sessions', 'alloc/thread', 'relayed pkt/s', 'rtt p99 ms', 'lost', 'srv CPU%', 'pkts/CPU-s', 'gen%', 'other%', 'server threads (% of a core)'],
      r.runs.map((x) =>
        x.error || !x.window
          ? [x.target, x.round + 1, 'error', (x.error ?? '').slice(0, 70), null, null, null, null, null, null, null, null]
          : [x.target, x.round + 1, x.sessions, x.allocationsPerThread?.join('/') ?? '-', fmt(x.window.relayedPerS), fmt(x.window.p99Ms, 2), x.window.lost, fmt(x.window.serverCpuPct), fmt(x.window.pktsPerCpuS), fmt(x.window.generatorCpuPct), fmt(x.window.otherCpuPct), threadsText(x.threads.slice(0, 4))],
      ),
    ),
    `   signaling under TURN load: ${c.signaling.rooms} rooms × ${c.signaling.roomSize} members at ${c.signaling.perMemberPerS} msgs/s each (a process of its own), while the TURN load above runs; p99 by turnThreads: ${Object.entries(r.signalingP99Median).map(([k, v]) => `${k}: ${fmt(v, 2)} ms (${(r.signalingP99Ms[k] ?? []).map((x) => fmt(x, 2)).join(', ')})`).join('; ')}`,
    table(
      ['turnThreads', 'rnd', 'delivered/s', 'sig p50 ms', 'sig p99 ms', 'sig max ms', 'relayed pkt/s', 'srv CPU%', 'gen%', 'other%', 'server threads (% of a core)'],
      r.signalingRuns.map((x) =>
        x.error || !x.signaling || !x.turn
          ? [x.turnThreads, x.round + 1, 'error', (x.error ?? '').slice(0, 70), null, null, null, null, null, null, null]
          : [x.turnThreads, x.round + 1, fmt(x.signaling.deliveredPerS), fmt(x.signaling.p50Ms, 2), fmt(x.signaling.p99Ms, 2), fmt(x.signaling.maxMs, 2), fmt(x.turn.relayedPerS), fmt(x.turn.serverCpuPct), fmt(x.turn.generatorCpuPct), fmt(x.turn.otherCpuPct), threadsText(x.threads.slice(0, 4))],
      ),
    ),
  ];
}

/** The headlines of TURN on every core: the issue's three goals, each a ratio or figure of the same run. */
export function turnCoresHeadlines(r: TurnCoresResult): Headline[] {
  if (r.status === 'not run') return [{ name: 'TURN on every core', value: null, unit: '', perRound: null, goal: '', met: null, note: `not run: ${r.reason}` }];
  const p99 = r.signalingP99Median;
  const each = (k: string) => (r.signalingP99Ms[k] ?? []).filter((v): v is number => v !== null);
  return [
    {
      name: 'TURN on every core: relayed pkt/s, 2 relay threads / 1',
      value: r.scalingRatio,
      unit: '×',
      perRound: r.scalingRatios,
      goal: '≥ 1.6',
      met: r.scalingRatio === null ? null : r.scalingRatio >= 1.6,
      note: `per server CPU-s 2 / 1: ${r.cpuScalingRatio ?? '-'} (the load generators share the cores)`,
    },
    {
      name: 'TURN on every core: relayed pkts per server CPU-s, ours (2 threads) / coturn',
      value: r.vsCoturnRatio,
      unit: '×',
      perRound: r.vsCoturnRatios,
      goal: '≥ 0.5',
      met: r.vsCoturnRatio === null ? null : r.vsCoturnRatio >= 0.5,
      note: `1 thread / coturn: ${r.vsCoturn1Ratio ?? '-'}`,
    },
    {
      name: 'signaling p99 while TURN relays at full load, turnThreads 2',
      value: p99['2'] ?? null,
      unit: 'ms',
      perRound: each('2'),
      goal: '< 10',
      met: p99['2'] == null ? null : p99['2'] < 10,
      note: `turnThreads 0 (TURN on the main thread): ${p99['0'] ?? '-'} ms`,
    },
  ];
}
