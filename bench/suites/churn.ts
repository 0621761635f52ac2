/**
 * Suite 3, churn: concurrent loops of connect → authenticate (ours: which
 * joins the room, `authenticated` arrives once joined) → close (leave), into
 * rooms that each keep one stationary member, so every join and leave is
 * announced. The bare relay's connect → close is the baseline (the cost of
 * the WebSocket handshake alone); the bare relay speaking the protocol
 * (`bare-protocol`: `authenticate` read, `authenticated`, `joined` and `left`
 * sent, nothing else) is the second, which splits the gap into what the
 * protocol's own frames cost and what our server adds to them. Each run cycles `warmupMs` first, not
 * counted, so that the figure is a warm server's (not its JIT compiler's).
 */
import type { BenchConfig } from '../lib/config.js';
import { nowUs } from '../lib/hist.js';
import { localAddresses, startTarget } from '../lib/procs.js';
import type { TargetProcess, WorkerPool } from '../lib/procs.js';
import type { TargetKind } from '../lib/protocols.js';
import type { ChurnResult } from '../load/messages.js';
import { measureMachineFloor } from '../lib/machine-floor.js';
import type { MachineFloor } from '../lib/machine-floor.js';
import { cpuMeter, errorText, median, merge, round, tearDown } from './common.js';

export interface ChurnRun {
  target: TargetKind;
  round: number;
  cycles: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  cyclesPerS: number;
  p50Ms: number | null;
  p99Ms: number | null;
  serverCpuS: number | null;
  cyclesPerCpuS: number | null;
  generatorCpuPct: number | null;
  otherCpuPct: number | null;
  /** The cycling window on the monotonic clock, µs (for profiles). */
  loadWindowUs: { fromUs: number; toUs: number } | null;
  error: string | null;
}

export interface ChurnSuiteResult {
  config: { loops: number; rooms: number; warmupMs: number; durationMs: number; workers: number };
  runs: ChurnRun[];
  oursCyclesPerS: number | null;
  /** Median over rounds of ours / bare cycles per second. */
  ratio: number | null;
  /** Per round, and the median over rounds, of ours / bare cycles per server CPU-second. */
  efficiencyRatios: number[];
  efficiencyRatio: number | null;
  /** The same against the bare relay speaking the protocol (`bare-protocol`): what our server adds to the protocol's own work. */
  vsProtocolRatios: number[];
  vsProtocolRatio: number | null;
  /** The bare relay speaking the protocol against the bare relay: what the protocol's frames cost a bare relay. */
  protocolVsBareRatios: number[];
  protocolVsBareRatio: number | null;
  /** What the connection and room machines alone cost per cycle (bench/lib/machine-floor.ts), null if not measured. */
  machineFloor: MachineFloor | null;
  /** Why the floor was not measured (null when it was). */
  machineFloorError: string | null;
  /** The machines' time per cycle as a share of our server's CPU per cycle (median round). */
  machineShare: number | null;
}

export async function runChurn(config: BenchConfig, pool: WorkerPool): Promise<ChurnSuiteResult> {
  const c = config.churn;
  const log = config.log ?? (() => {});
  const workers = await pool.get(c.workers);
  const runs: ChurnRun[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    for (const [targetIdx, target] of c.targets.entries()) {
      log(`churn round ${roundNo + 1}/${config.rounds}: ${target}`);
      const run: ChurnRun = {
        target,
        round: roundNo,
        cycles: 0,
        errors: 0,
        firstError: null,
        seconds: 0,
        cyclesPerS: 0,
        p50Ms: null,
        p99Ms: null,
        serverCpuS: null,
        cyclesPerCpuS: null,
        generatorCpuPct: null,
        otherCpuPct: null,
        loadWindowUs: null,
        error: null,
      };
      let server: TargetProcess | null = null;
      try {
        const profile = config.profile && (target === 'ours' || target === 'bare') ? { dir: config.profile.dir, name: `churn-${target}-r${roundNo}` } : undefined;
        server = await startTarget(target, profile ? { profile } : {});
        const ref = { kind: target, base: server.base };
        const cycle = (phase: 'warm' | 'run', durationMs: number) =>
          Promise.all(
            workers.map((w, i) =>
              w.request<ChurnResult>(
                {
                  op: 'churn',
                  target: ref,
                  loops: Math.max(1, Math.round(c.loops / workers.length)),
                  rooms: Array.from({ length: Math.max(1, Math.round(c.rooms / workers.length)) }, (_, r) => `churn${roundNo}-w${i}-${r}`),
                  durationMs,
                  clientPrefix: `churn${roundNo}-${target}-${phase}-w${i}-`,
                  // Each process, target and round gets fresh source addresses: closed sockets linger in TIME_WAIT.
                  localAddresses: localAddresses(100 + ((roundNo * c.targets.length + targetIdx) * workers.length + i) * 4, 4),
                },
                durationMs + 60_000,
              ),
            ),
          );
        if (c.warmupMs > 0) await cycle('warm', c.warmupMs);
        const meter = cpuMeter(server, pool.pids());
        const fromUs = nowUs();
        const results = await cycle('run', c.durationMs);
        const cpu = meter();
        run.loadWindowUs = { fromUs, toUs: nowUs() };
        const hist = merge(results);
        run.cycles = results.reduce((a, r) => a + r.cycles, 0);
        run.errors = results.reduce((a, r) => a + r.errors, 0);
        run.firstError = results.find((r) => r.firstError)?.firstError ?? null;
        run.seconds = round(Math.max(...results.map((r) => r.ms)) / 1000, 3);
        run.cyclesPerS = round(run.cycles / run.seconds, 0);
        run.p50Ms = hist.quantileMs(0.5);
        run.p99Ms = hist.quantileMs(0.99);
        run.serverCpuS = cpu.serverCpuS;
        run.cyclesPerCpuS = cpu.serverCpuS ? round(run.cycles / cpu.serverCpuS, 0) : null;
        run.generatorCpuPct = cpu.generatorCpuPct;
        run.otherCpuPct = cpu.otherCpuPct;
        log(`  ${run.cyclesPerS} cycles/s (${run.errors} errors)`);
      } catch (err) {
        run.error = errorText(err);
        log(`  failed: ${run.error}`);
      } finally {
        await tearDown(workers, server);
      }
      runs.push(run);
    }
  }
  const ratios: number[] = [];
  /** Per round, `a`'s cycles per server CPU-second over `b`'s. */
  const efficiency = (a: TargetKind, b: TargetKind): number[] => {
    const out: number[] = [];
    for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
      const x = runs.find((r) => r.round === roundNo && r.target === a && !r.error)?.cyclesPerCpuS;
      const y = runs.find((r) => r.round === roundNo && r.target === b && !r.error)?.cyclesPerCpuS;
      if (x && y) out.push(round(x / y, 3));
    }
    return out;
  };
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    const a = runs.find((r) => r.round === roundNo && r.target === 'ours' && !r.error);
    const b = runs.find((r) => r.round === roundNo && r.target === 'bare' && !r.error);
    if (a && b && b.cyclesPerS > 0) ratios.push(a.cyclesPerS / b.cyclesPerS);
  }
  const m = (v: number[]) => {
    const x = median(v);
    return x === null ? null : round(x, 3);
  };
  const eff = efficiency('ours', 'bare');
  const vsProtocol = efficiency('ours', 'bare-protocol');
  const protocolVsBare = efficiency('bare-protocol', 'bare');
  const oursPerCpuS = m(runs.filter((r) => r.target === 'ours' && r.cyclesPerCpuS).map((r) => r.cyclesPerCpuS!));
  const measured = measureMachineFloor();
  const machineFloor = 'error' in measured ? null : measured;
  const machineUs = machineFloor ? machineFloor.connectionUs + machineFloor.roomUs : null;
  return {
    machineFloor,
    machineFloorError: 'error' in measured ? measured.error : null,
    machineShare: machineUs !== null && oursPerCpuS ? round((machineUs * oursPerCpuS) / 1e6, 3) : null,
    config: { loops: c.loops, rooms: c.rooms, warmupMs: c.warmupMs, durationMs: c.durationMs, workers: c.workers },
    runs,
    oursCyclesPerS: m(runs.filter((r) => r.target === 'ours' && !r.error).map((r) => r.cyclesPerS)),
    ratio: m(ratios),
    efficiencyRatios: eff,
    efficiencyRatio: m(eff),
    vsProtocolRatios: vsProtocol,
    vsProtocolRatio: m(vsProtocol),
    protocolVsBareRatios: protocolVsBare,
    protocolVsBareRatio: m(protocolVsBare),
  };
}
