/** What every suite measures around a window: the server's CPU, the generators', everyone else's. */
import { Histogram } from '../lib/hist.js';
import { machineCpu, procCpuSeconds } from '../lib/procs.js';
import type { TargetProcess } from '../lib/procs.js';
import type { SparseHistogram } from '../lib/hist.js';

export interface CpuWindow {
  seconds: number;
  serverCpuS: number | null;
  /** Load generators' CPU over the window, in percent of one core (summed over processes). */
  generatorCpuPct: number | null;
  /** CPU used by everything else on the machine (other engineers' tests…), percent of one core. */
  otherCpuPct: number | null;
}

export function cpuMeter(server: Pick<TargetProcess, 'cpuSeconds'>, generatorPids: number[]): () => CpuWindow {
  const t0 = performance.now();
  const s0 = server.cpuSeconds();
  const g0 = sumCpu(generatorPids);
  const m0 = machineCpu();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const s1 = server.cpuSeconds();
    const g1 = sumCpu(generatorPids);
    const m1 = machineCpu();
    const serverCpuS = s0 !== null && s1 !== null ? s1 - s0 : null;
    const genS = g0 !== null && g1 !== null ? g1 - g0 : null;
    const machineS = m0 && m1 ? m1.busy - m0.busy : null;
    return {
      seconds,
      serverCpuS: serverCpuS === null ? null : round(serverCpuS, 3),
      generatorCpuPct: genS === null ? null : round((100 * genS) / seconds, 0),
      otherCpuPct:
        machineS === null || serverCpuS === null || genS === null ? null : round(Math.max(0, (100 * (machineS - serverCpuS - genS)) / seconds), 0),
    };
  };
}

export function sumCpu(pids: number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const cpu = procCpuSeconds(pid);
    if (cpu === null) return null;
    total += cpu;
  }
  return total;
}

export function merge(parts: { hist: SparseHistogram; maxUs: number }[]): Histogram {
  const hist = new Histogram();
  for (const part of parts) hist.add(part.hist, part.maxUs);
  return hist;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median rounded to `digits`, or null for no values. */
export function roundedMedian(values: number[], digits = 3): number | null {
  const m = median(values);
  return m === null ? null : round(m, digits);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whatever happened in a run: every worker drops its clients (bounded), then the target stops. */
export async function tearDown(
  workers: readonly { request(message: { op: 'teardown' }, timeoutMs?: number): Promise<unknown> }[],
  server: { stop(): Promise<void> } | null,
  timeoutMs = 10_000,
): Promise<void> {
  await Promise.allSettled(workers.map((w) => w.request({ op: 'teardown' }, timeoutMs)));
  await server?.stop();
}
