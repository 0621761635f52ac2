/**
 * The reconnect storm (real use, reported second): N clients authenticated
 * in rooms of `roomSize` (filled as the idle suite fills, `fillIdle`) all
 * lose their sockets at one instant (each client's socket destroyed, as
 * after a network blip), and each reconnects to its room after a delay
 * drawn uniformly from [0, jitterMs], retrying a failed attempt a few
 * times. Measured: the time from the drop until every client is back in
 * its room (ours: `authenticated` received, which follows the join), each
 * client's reconnect time (attempt → back), the errors, and the server's
 * CPU over the storm. Our server and the bare relay (back = WebSocket open)
 * alternate per round, each freshly started.
 */
import type { BenchConfig, StormConfig } from '../lib/config.js';
import { Histogram, nowUs } from '../lib/hist.js';
import { sleep, startTarget } from '../lib/procs.js';
import type { TargetProcess, WorkerPool } from '../lib/procs.js';
import type { TargetKind } from '../lib/protocols.js';
import type { StormResult } from '../load/messages.js';
import { cpuMeter, errorText, round, roundedMedian, tearDown } from './common.js';
import { fillIdle, split } from './idle.js';

export interface StormRun {
  target: TargetKind;
  round: number;
  clients: number;
  /** Clients connected before the drop. */
  connected: number;
  fillPerS: number | null;
  back: number;
  notBack: number;
  /** Failed reconnect attempts (retried), and the first one's text. */
  errors: number;
  firstError: string | null;
  /** From the drop until the last client was back (null unless all came back). */
  allBackS: number | null;
  /** Drop → back, per client. */
  backP50Ms: number | null;
  backP99Ms: number | null;
  /** Reconnect attempt → back, per client (what a user waits once their browser retries). */
  attemptP50Ms: number | null;
  attemptP99Ms: number | null;
  attemptMaxMs: number | null;
  /** Server CPU from the drop until all were back, and per client back. */
  serverCpuS: number | null;
  serverCpuPct: number | null;
  cpuMsPerReconnect: number | null;
  generatorCpuPct: number | null;
  otherCpuPct: number | null;
  loadWindowUs: { fromUs: number; toUs: number } | null;
  error: string | null;
}

export interface StormSuiteResult {
  config: StormConfig;
  runs: StormRun[];
  /** Median over rounds of our all-back time, s. */
  oursAllBackS: number | null;
  /** Our errors and clients not back, summed over rounds. */
  oursErrors: number;
  oursNotBack: number;
  /** Per round: ours / bare of server CPU per reconnect. */
  cpuRatios: number[];
  cpuRatio: number | null;
}

/** How long before the drop its instant is announced to every process. */
const DROP_LEAD_MS = 300;

export async function runStorm(config: BenchConfig, pool: WorkerPool): Promise<StormSuiteResult> {
  const s = config.storm;
  const log = config.log ?? (() => {});
  const workers = await pool.get(s.workers);
  const runs: StormRun[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    for (const target of s.targets) {
      log(`reconnect storm round ${roundNo + 1}/${config.rounds}: ${target}, ${s.clients} clients`);
      const run = emptyRun(target, roundNo, s.clients);
      let server: TargetProcess | null = null;
      try {
        const profile = config.profile && (target === 'ours' || target === 'bare') ? { dir: config.profile.dir, name: `storm-${target}-r${roundNo}` } : undefined;
        server = await startTarget(target, profile ? { profile } : {});
        const ref = { kind: target, base: server.base };
        const fill = await fillIdle(workers, split(s.clients, workers.length), { target: ref, roomSize: s.roomSize, prefix: `storm${roundNo}-`, concurrency: s.concurrency });
        run.connected = fill.connected;
        run.fillPerS = fill.connectPerS;
        if (fill.failed > 0) throw new Error(`${fill.failed} clients could not connect before the storm: ${fill.firstError}`);
        await sleep(500);
        const dropAtUs = nowUs() + DROP_LEAD_MS * 1000;
        const meterAt = sleep(DROP_LEAD_MS).then(() => cpuMeter(server!, pool.pids()));
        const results = await Promise.all(
          workers.map((w) =>
            w.request<StormResult>(
              { op: 'storm', dropAtUs, jitterMs: s.jitterMs, retries: s.retries, retryDelayMs: s.retryDelayMs, timeoutMs: s.timeoutMs, deadlineMs: s.deadlineMs },
              DROP_LEAD_MS + s.deadlineMs + 30_000,
            ),
          ),
        );
        const cpu = (await meterAt)();
        Object.assign(run, summarize(results, dropAtUs, cpu));
        log(`  ${run.back}/${run.clients} back${run.allBackS === null ? '' : ` in ${run.allBackS} s`}, ${run.errors} errors, reconnect p99 ${run.attemptP99Ms ?? '?'} ms`);
      } catch (err) {
        run.error = errorText(err);
        log(`  failed: ${run.error}`);
      } finally {
        await tearDown(workers, server, 30_000);
      }
      runs.push(run);
    }
  }
  const [subject, baseline] = s.targets;
  const ours = runs.filter((r) => r.target === subject && !r.error);
  const cpuRatios: number[] = [];
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    const a = runs.find((r) => r.round === roundNo && r.target === subject && !r.error);
    const b = runs.find((r) => r.round === roundNo && r.target === baseline && !r.error);
    if (a?.cpuMsPerReconnect && b?.cpuMsPerReconnect) cpuRatios.push(round(a.cpuMsPerReconnect / b.cpuMsPerReconnect, 2));
  }
  const allBack = ours.map((r) => r.allBackS);
  return {
    config: s,
    runs,
    // A round where some never came back has no all-back time, and neither has the suite.
    oursAllBackS: allBack.includes(null) ? null : roundedMedian(allBack as number[]),
    oursErrors: ours.reduce((a, r) => a + r.errors, 0),
    oursNotBack: ours.reduce((a, r) => a + r.notBack, 0) + runs.filter((r) => r.target === subject && r.error).reduce((a, r) => a + r.clients, 0),
    cpuRatios,
    cpuRatio: roundedMedian(cpuRatios),
  };
}

function emptyRun(target: TargetKind, roundNo: number, clients: number): StormRun {
  return {
    target,
    round: roundNo,
    clients,
    connected: 0,
    fillPerS: null,
    back: 0,
    notBack: 0,
    errors: 0,
    firstError: null,
    allBackS: null,
    backP50Ms: null,
    backP99Ms: null,
    attemptP50Ms: null,
    attemptP99Ms: null,
    attemptMaxMs: null,
    serverCpuS: null,
    serverCpuPct: null,
    cpuMsPerReconnect: null,
    generatorCpuPct: null,
    otherCpuPct: null,
    loadWindowUs: null,
    error: null,
  };
}

function summarize(results: StormResult[], dropAtUs: number, cpu: ReturnType<ReturnType<typeof cpuMeter>>): Partial<StormRun> {
  const backHist = new Histogram();
  const attemptHist = new Histogram();
  for (const r of results) {
    backHist.add(r.backHist, r.backMaxUs);
    attemptHist.add(r.attemptHist, r.attemptMaxUs);
  }
  const back = results.reduce((a, r) => a + r.back, 0);
  const notBack = results.reduce((a, r) => a + r.notBack, 0);
  const lasts = results.map((r) => r.lastBackUs).filter((v): v is number => v !== null);
  const lastUs = lasts.length ? Math.max(...lasts) : null;
  const ms = (v: number | null) => (v === null ? null : round(v, 2));
  return {
    back,
    notBack,
    errors: results.reduce((a, r) => a + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError ?? null,
    allBackS: notBack === 0 && lastUs !== null ? round((lastUs - dropAtUs) / 1e6, 3) : null,
    backP50Ms: ms(backHist.quantileMs(0.5)),
    backP99Ms: ms(backHist.quantileMs(0.99)),
    attemptP50Ms: ms(attemptHist.quantileMs(0.5)),
    attemptP99Ms: ms(attemptHist.quantileMs(0.99)),
    attemptMaxMs: ms(attemptHist.total ? attemptHist.maxUs / 1000 : null),
    serverCpuS: cpu.serverCpuS,
    serverCpuPct: cpu.serverCpuS === null ? null : round((100 * cpu.serverCpuS) / cpu.seconds, 0),
    cpuMsPerReconnect: cpu.serverCpuS !== null && back > 0 ? round((1000 * cpu.serverCpuS) / back, 3) : null,
    generatorCpuPct: cpu.generatorCpuPct,
    otherCpuPct: cpu.otherCpuPct,
    loadWindowUs: { fromUs: dropAtUs, toUs: lastUs ?? nowUs() },
  };
}
