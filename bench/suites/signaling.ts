/**
 * The signaling profile (real use, reported first): R rooms of 2–6 members,
 * connected and in their rooms before the load starts; then each member
 * broadcasts at a low steady rate (≤ 40 msgs/s) while, every few seconds, a
 * member of each room (re)joins its call: an offer-sized SDP and ~20
 * trickled candidates to each peer, answered the same way (unicast). One
 * open-loop window at that load per run, our server and the bare relay
 * alternating (A B A B …), each freshly started. The figure: delivered
 * messages per server CPU-second, ours / bare relay, per round; and the
 * delivery latency (p50, p99). Connecting and joining are not in the
 * window: the churn and the reconnect storm measure those.
 */
import type { BenchConfig, SignalingConfig } from '../lib/config.js';
import { nowUs } from '../lib/hist.js';
import { procSyscalls, sleep, startTarget } from '../lib/procs.js';
import type { LoadWorker, TargetProcess, WorkerPool } from '../lib/procs.js';
import type { TargetKind } from '../lib/protocols.js';
import { cpuMeter, errorText, round, roundedMedian, tearDown } from './common.js';
import { measureStep } from './fanout.js';
import type { StepResult } from './fanout.js';

export interface SignalingRun {
  target: TargetKind;
  round: number;
  members: number;
  /** The measurement window (null when the run failed before it). */
  step: StepResult | null;
  /** The server's read and write system calls (/proc/<pid>/io) per delivered message over the window. */
  readsPerMsg: number | null;
  writesPerMsg: number | null;
  loadWindowUs: { fromUs: number; toUs: number } | null;
  error: string | null;
}

export interface SignalingResult {
  config: SignalingConfig & { members: number; offeredPerS: number };
  runs: SignalingRun[];
  /** Per round: ours / bare of delivered msgs per server CPU-second. */
  efficiencyRatios: number[];
  efficiencyRatio: number | null;
  /** Per round: our p99 delivery latency (ms), and the bare relay's. */
  oursP99Ms: (number | null)[];
  bareP99Ms: (number | null)[];
}

/** The members of room r. */
const sizeOf = (s: SignalingConfig, r: number) => s.roomSizes[r % s.roomSizes.length]!;

/**
 * Deliveries per second the load asks for: steady broadcasts reach the other members; each
 * (re)join exchanges 1 SDP + candidates both ways with every other member.
 */
export function offeredPerS(s: SignalingConfig): number {
  let steady = 0;
  let member = 0;
  let exchanges = 0;
  const meanJoinS = (s.rejoinEveryMs[0] + s.rejoinEveryMs[1]) / 2000;
  for (let r = 0; r < s.rooms; r++) {
    const k = sizeOf(s, r);
    for (let i = 0; i < k; i++) steady += s.memberRates[member++ % s.memberRates.length]! * (k - 1);
    exchanges += (2 * (k - 1) * (1 + s.candidatesPerPeer)) / meanJoinS;
  }
  return Math.round(steady + exchanges);
}

export async function runSignaling(config: BenchConfig, pool: WorkerPool): Promise<SignalingResult> {
  const s = config.signaling;
  const log = config.log ?? (() => {});
  const workers = await pool.get(s.workers);
  const runs: SignalingRun[] = [];
  const members = Array.from({ length: s.rooms }, (_, r) => sizeOf(s, r)).reduce((a, b) => a + b, 0);
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    for (const target of s.targets) {
      log(`signaling profile round ${roundNo + 1}/${config.rounds}: ${target}`);
      const run = await oneRun(config, workers, pool, target, roundNo);
      run.members = members;
      runs.push(run);
      if (run.error) log(`  failed: ${run.error}`);
      else log(`  ${run.step!.deliveredPerS} delivered/s, ${run.step!.msgsPerCpuS ?? '?'} msgs/CPU-s, p99 ${run.step!.p99Ms ?? '?'} ms`);
    }
  }
  const [subject, baseline] = s.targets;
  const efficiencyRatios: number[] = [];
  const oursP99Ms: (number | null)[] = [];
  const bareP99Ms: (number | null)[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    const a = runs.find((r) => r.round === roundNo && r.target === subject && !r.error)?.step;
    const b = runs.find((r) => r.round === roundNo && r.target === baseline && !r.error)?.step;
    oursP99Ms.push(a?.p99Ms ?? null);
    bareP99Ms.push(b?.p99Ms ?? null);
    if (a?.msgsPerCpuS && b?.msgsPerCpuS) efficiencyRatios.push(round(a.msgsPerCpuS / b.msgsPerCpuS, 3));
  }
  return {
    config: { ...s, members, offeredPerS: offeredPerS(s) },
    runs,
    efficiencyRatios,
    efficiencyRatio: roundedMedian(efficiencyRatios),
    oursP99Ms,
    bareP99Ms,
  };
}

async function oneRun(config: BenchConfig, workers: LoadWorker[], pool: WorkerPool, target: TargetKind, roundNo: number): Promise<SignalingRun> {
  const s = config.signaling;
  const run: SignalingRun = { target, round: roundNo, members: 0, step: null, readsPerMsg: null, writesPerMsg: null, loadWindowUs: null, error: null };
  let server: TargetProcess | null = null;
  try {
    const profile = config.profile && (target === 'ours' || target === 'bare') ? { dir: config.profile.dir, name: `signaling-${target}-r${roundNo}` } : undefined;
    server = await startTarget(target, profile ? { profile } : {});
    const srv = server;
    // Whole rooms per process, so that a process sees every copy of its members' messages.
    const share = workers.map(() => [] as { name: string; k: number }[]);
    for (let r = 0; r < s.rooms; r++) share[r % workers.length]!.push({ name: `sig${r}`, k: sizeOf(s, r) });
    const active = workers.filter((_, i) => share[i]!.length > 0);
    await Promise.all(
      active.map((w) =>
        w.request(
          { op: 'setup', target: { kind: target, base: srv.base }, mode: 'unicast', rooms: share[w.index]!, clientPrefix: `s${w.index}r${roundNo}`, localAddresses: [], timeoutMs: 10_000 },
          60_000,
        ),
      ),
    );
    await sleep(200);
    const fromUs = nowUs();
    await Promise.all(
      active.map((w) =>
        w.request({ op: 'sig-start', memberRates: s.memberRates, candidatesPerPeer: s.candidatesPerPeer, trickleMs: s.trickleMs, rejoinEveryMs: s.rejoinEveryMs }),
      ),
    );
    await sleep(s.warmupMs);
    const io0 = procSyscalls(srv.pid);
    run.step = await measureStep(active, () => cpuMeter(srv, pool.pids()), s.measureMs, 'signaling', 'open', offeredPerS(s));
    const io1 = procSyscalls(srv.pid);
    if (io0 && io1 && run.step.delivered > 0) {
      run.readsPerMsg = round((io1.reads - io0.reads) / run.step.delivered, 2);
      run.writesPerMsg = round((io1.writes - io0.writes) / run.step.delivered, 2);
    }
    run.loadWindowUs = { fromUs, toUs: nowUs() };
    await Promise.all(active.map((w) => w.request({ op: 'sig-stop' })));
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await tearDown(workers, server);
  }
  return run;
}
