/**
 * A/B of our UDP TURN relay between two checkouts, in one run: the same
 * closed-loop ChannelData load as "TURN on every core" (bench/suites/turn-load.ts,
 * the `turn.cores` load of the default preset) through our server started
 * from tree A, then from tree B, alternating per round, each on a freshly
 * started server. Prints relayed packets per server CPU-second (all threads
 * of the process) and the kernel's share, per round and as the median of
 * B / A. For measuring a change of the data path on a noisy machine:
 *
 *   npx tsx bench/turn-ab.ts --a /tmp/baseline-tree --b . [--rounds 5] [--threads 1] [--profile DIR]
 *
 * Tree A needs its own node_modules (a symlink to this one's will do).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { preset } from './lib/config.js';
import { startEchoPeer, WorkerPool } from './lib/procs.js';
import { errorText, round, roundedMedian, tearDown } from './suites/common.js';
import { measureTurn, openSessions, startTurnLoad, stopTurnLoad } from './suites/turn-load.js';
import type { TurnWindow } from './suites/turn-load.js';
import { startOursTurn } from './suites/turn.js';
import { sleep } from './lib/procs.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    options: { type: 'string', default: '{}' },
    /** Runs B under node --cpu-prof, its profiles in this folder (one subfolder per round). */
    profile: { type: 'string' },
  },
});
if (!values.a) throw new Error('--a <tree> is required');
const trees = { A: resolve(values.a), B: resolve(values.b) };
const rounds = Number(values.rounds);
const turnThreads = Number(values.threads);
const extra = JSON.parse(values.options) as Record<string, unknown>;
const load = preset('default').turn.cores;
const pool = new WorkerPool();
const workers = await pool.get(load.workers);
const peer = await startEchoPeer();
const perCpu: Record<'A' | 'B', number[]> = { A: [], B: [] };
const ratios: number[] = [];

async function oneRun(tree: string, profile?: { dir: string; name: string }): Promise<{ window: TurnWindow; sessions: number }> {
  const server = await startOursTurn({ turnThreads, ...extra }, profile, tree);
  try {
    const opened = await openSessions(workers, load, server.turnPort, peer);
    await startTurnLoad(opened.active, load.window);
    await sleep(load.warmupMs);
    const window = await measureTurn(opened.active, server, [...pool.pids(), peer.pid], load.measureMs);
    await stopTurnLoad(opened.active);
    return { window, sessions: opened.sessions };
  } finally {
    await tearDown(workers, server);
  }
}

try {
  for (let r = 0; r < rounds; r++) {
    const got: Partial<Record<'A' | 'B', number>> = {};
    for (const name of ['A', 'B'] as const) {
      try {
        const profile = name === 'B' && values.profile ? { dir: resolve(values.profile), name: `r${r + 1}` } : undefined;
        const { window: w, sessions } = await oneRun(trees[name], profile);
        console.log(`round ${r + 1} ${name}: ${w.pktsPerCpuS} pkt per CPU-s, ${w.relayedPerS} pkt/s, server ${w.serverCpuPct}% CPU (${w.serverSysPct}% kernel), generators ${w.generatorCpuPct}%, ${sessions} sessions, lost ${w.lost}`);
        if (w.pktsPerCpuS) {
          got[name] = w.pktsPerCpuS;
          perCpu[name].push(w.pktsPerCpuS);
        }
      } catch (err) {
        console.log(`round ${r + 1} ${name}: failed: ${errorText(err)}`);
      }
    }
    if (got.A && got.B) ratios.push(round(got.B / got.A, 3));
  }
  console.log(`pkt per CPU-s median A ${roundedMedian(perCpu.A, 0)} B ${roundedMedian(perCpu.B, 0)}; B/A per round ${ratios.join(', ')}, median ${roundedMedian(ratios)}`);
} finally {
  await peer.stop();
  await pool.stop();
}
