/**
 * TURN on every core (issue 13) at tiny sizes, so that it cannot rot: our
 * server with one and two relay threads and coturn (where installed), then
 * signaling under TURN load with turnThreads 0 and 2, each in processes of
 * its own; the figures have the expected shape and non-zero counts, the
 * allocations are read per thread from the server's /metrics, the relay
 * threads show in the per-thread CPU. No timing is asserted (issue 5).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { preset } from '../../bench/lib/config.js';
import { COTURN_BIN, WorkerPool } from '../../bench/lib/procs.js';
import { formatTurnCores, runTurnCores, turnCoresHeadlines } from '../../bench/suites/turn-cores.js';
import { reusePortAvailable } from '../../src/turn/reuse-port.js';

const skip = (await reusePortAvailable()) ? false : 'this Node has no SO_REUSEPORT for UDP (relay threads need >= 22.12)';

describe('bench harness (smoke): TURN on every core', { skip }, () => {
  const pool = new WorkerPool();
  after(() => pool.stop());

  it('relays with 1 and 2 threads (and coturn), split per thread; signaling delivers under TURN load', { timeout: 150_000 }, async () => {
    const config = preset('smoke');
    const c = config.turn.cores;
    const r = await runTurnCores(config, pool);
    assert.equal(r.status, 'ran', r.reason);
    for (const target of ['threads1', 'threads2', ...(COTURN_BIN ? (['coturn'] as const) : [])] as const) {
      const run = r.runs.find((x) => x.target === target);
      assert.ok(run, `${target} ran`);
      assert.equal(run.error, null, `${target}: ${run.error}`);
      assert.equal(run.sessions, c.sessions);
      assert.ok(run.window!.echoed > 0 && run.window!.relayedPerS > 0, `${target}: nothing relayed`);
      assert.equal(typeof run.window!.pktsPerCpuS, 'number');
      if (target === 'coturn') continue;
      const threads = target === 'threads1' ? 1 : 2;
      assert.equal(run.allocationsPerThread?.length, threads, `${target}: allocations per thread ${run.allocationsPerThread}`);
      assert.equal(run.allocationsPerThread.reduce((a, b) => a + b, 0), c.sessions);
      assert.ok(run.threads.some((t) => t.name.startsWith('turn_relay_')), `${target}: the relay threads did the work (${JSON.stringify(run.threads)})`);
    }
    assert.equal(r.scalingRatios.length, 1);
    assert.equal(r.cpuScalingRatios.length, 1);
    if (COTURN_BIN) assert.equal(r.vsCoturnRatios.length, 1);
    for (const turnThreads of c.signaling.turnThreads) {
      const run = r.signalingRuns.find((x) => x.turnThreads === turnThreads);
      assert.ok(run, `signaling under load with turnThreads ${turnThreads} ran`);
      assert.equal(run.error, null, `turnThreads ${turnThreads}: ${run.error}`);
      assert.ok(run.signaling!.delivered > 0 && run.turn!.echoed > 0);
      assert.equal(run.signaling!.selfEcho, 0);
      assert.equal(typeof r.signalingP99Median[String(turnThreads)], 'number');
      assert.equal(run.allocationsPerThread?.length ?? 0, turnThreads);
    }
    const headlines = turnCoresHeadlines(r);
    assert.deepEqual(headlines.map((h) => h.goal), ['≥ 1.6', '≥ 0.5', '< 10']);
    const text = formatTurnCores(r, (header, rows) => [header, ...rows].map((row) => row.join(' ')).join('\n')).join('\n');
    assert.match(text, /TURN on every core/);
    assert.match(text, /signaling under TURN load/);
  });
});
