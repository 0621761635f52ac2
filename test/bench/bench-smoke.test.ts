/**
 * The benchmark harness at tiny sizes, so that it cannot rot: every suite
 * runs against real servers in separate processes and the JSON has the
 * expected shape with non-zero counts. No timing is asserted: benchmarks
 * are not tests (issue 5).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { preset } from '../../bench/lib/config.js';
import { COTURN_BIN } from '../../bench/lib/procs.js';
import { formatReport } from '../../bench/lib/report.js';
import { parseArgs, runBench } from '../../bench/run.js';
import { runAlone } from '../helpers/bench.js';
import type { BenchResult } from '../../bench/run.js';

describe('bench harness (smoke)', () => {
  it('runs every suite at tiny sizes and writes the figures as JSON', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    try {
      const config = preset('smoke');
      // The profiles of real use have a file of their own (bench-profiles.test.ts): each file has 180 s.
      config.suites = config.suites.filter((s) => s !== 'signaling' && s !== 'storm');
      config.turn.cores.rounds = 0; // TURN on every core: bench-turn-cores.test.ts
      config.out = join(dir, 'latest.json');
      const returned = await runBench(config, 'bench-smoke');
      const result = JSON.parse(readFileSync(config.out, 'utf8')) as BenchResult;
      assert.equal(result.schema, 1);
      assert.equal(result.preset, 'smoke');
      assert.deepEqual(Object.keys(result).sort(), Object.keys(returned).sort());
      for (const key of ['cpus', 'cpuModel', 'node', 'loadBefore', 'loadAfter']) assert.ok(key in result.machine, key);

      const fanout = result.fanout!;
      assert.ok(fanout, 'fan-out ran');
      for (const mode of ['broadcast', 'unicast'] as const) {
        for (const target of ['ours', 'bare'] as const) {
          const run = fanout.runs.find((r) => r.mode === mode && r.target === target);
          assert.ok(run, `${mode} ${target} ran`);
          assert.equal(run.error, null, `${mode} ${target}: ${run.error}`);
          assert.ok(run.steps.length >= 1);
          for (const step of [...run.steps, run.max!]) {
            assert.ok(step.delivered > 0, `${mode} ${target} ${step.label} delivered nothing`);
            assert.ok(step.sent > 0);
            for (const key of ['deliveredPerS', 'p50Ms', 'p99Ms', 'serverCpuS', 'msgsPerCpuS', 'generatorCpuPct', 'otherCpuPct'] as const) assert.ok(key in step, key);
            assert.equal(typeof step.p99Ms, 'number');
          }
        }
      }
      // Competitors: either measured, or skipped with a reason.
      for (const [mode, target] of [['broadcast', 'y-webrtc'], ['unicast', 'peerjs']] as const) {
        const run = fanout.runs.find((r) => r.mode === mode && r.target === target);
        const skipped = fanout.skipped.find((s) => s.mode === mode && s.target === target);
        assert.ok(run || skipped, `${target}: neither run nor skipped`);
        if (run) {
          assert.equal(run.error, null, `${target}: ${run.error}`);
          assert.ok(run.max!.delivered > 0, `${target} delivered nothing`);
        }
      }
      assert.ok(fanout.comparisons.some((c) => c.mode === 'broadcast' && c.baseline === 'bare' && c.throughputRatios.length === 1));
      assert.ok(fanout.comparisons.some((c) => c.mode === 'unicast' && c.baseline === 'bare' && c.throughputRatios.length === 1));

      const idle = result.idle!;
      for (const target of ['ours', 'bare'] as const) {
        const run = idle.runs.find((r) => r.target === target)!;
        assert.equal(run.error, null, `idle ${target}: ${run.error}`);
        assert.equal(run.connected, config.idle.connections, `idle ${target}: ${run.firstError}`);
        assert.equal(typeof run.rssAfterKiB, 'number');
      }

      const churn = result.churn!;
      for (const target of ['ours', 'bare', 'bare-protocol'] as const) {
        const run = churn.runs.find((r) => r.target === target)!;
        assert.equal(run.error, null, `churn ${target}: ${run.error}`);
        assert.ok(run.cycles > 0, `churn ${target}: no cycle (${run.firstError})`);
      }
      assert.equal(churn.vsProtocolRatios.length, 1, 'ours / bare-protocol per round');
      // The machines alone: a connection's life allocates its actor, a snapshot per step (tens of KiB).
      const floor = churn.machineFloor;
      assert.ok(floor, `the machine floor was not measured: ${churn.machineFloorError}`);
      assert.ok(floor.connectionUs > 0 && floor.roomUs > 0, JSON.stringify(floor));
      assert.ok(floor.connectionBytes > 10_000 && floor.roomBytes > 1_000, JSON.stringify(floor));

      // TURN: ours and the bare Node relay always; coturn wherever it is installed (the ratio needs it).
      const turn = result.turn!;
      assert.equal(turn.status, 'ran', turn.reason);
      for (const target of ['ours', 'bare', ...(COTURN_BIN ? (['coturn'] as const) : [])] as const) {
        const run = turn.runs.find((r) => r.target === target);
        assert.ok(run, `turn ${target} ran`);
        assert.equal(run.error, null, `turn ${target}: ${run.error}`);
        assert.equal(run.sessions, config.turn.sessions, `turn ${target}: sessions`);
        assert.ok(run.sent > 0, `turn ${target}: nothing sent`);
        assert.ok(run.echoed > 0, `turn ${target}: nothing relayed`);
        assert.ok(run.relayedPerS > 0, `turn ${target}: no relayed packets/s`);
        for (const key of ['p50Ms', 'p99Ms', 'serverCpuS', 'pktsPerCpuS', 'generatorCpuPct', 'otherCpuPct', 'lost'] as const) assert.ok(key in run, key);
      }
      assert.equal(turn.vsBareEfficiencyRatios.length, 1);
      if (COTURN_BIN) assert.equal(turn.throughputRatios.length, 1);
      else assert.match(turn.reason, /coturn is not installed/);
      assert.ok(result.headlines.some((h) => h.name === 'TURN: packets/s relayed, ours / coturn'));
      assert.ok(result.headlines.length > 0);
      const report = formatReport(result);
      assert.match(report, /Signaling fan-out/);
      assert.match(report, /TURN relay vs coturn/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a tiny soak: samples taken, JSON shape, honest clients saw no error', { timeout: 180_000 }, async (t) => {
    const { config, result } = await runAlone(t, 'soak');
    const soak = result.soak!;
    assert.ok(soak, 'the soak ran');
    assert.equal(soak.status, 'ran', soak.error ?? '');
    assert.equal(soak.config.minutes, config.soak.minutes);

    // Samples: the idle baseline, some under load, and at least one once the load stopped.
    const phases = (phase: string) => soak.samples.filter((s) => s.phase === phase);
    assert.equal(phases('baseline').length, 1);
    assert.ok(phases('load').length >= 3, `${phases('load').length} samples under load`);
    assert.ok(phases('settle').length >= 1);
    for (const sample of soak.samples) {
      for (const key of ['tS', 'rssMiB', 'heapUsedMiB', 'externalMiB', 'fds', 'timers', 'timersRefed', 'handles', 'resources', 'loopP99Ms', 'cpuPct', 'otherCpuPct', 'gauges'] as const) {
        assert.ok(key in sample, `sample.${key}`);
      }
      assert.ok(sample.rssMiB > 0 && sample.heapUsedMiB > 0);
      assert.equal(typeof sample.fds, 'number', 'fds read from /proc');
      assert.ok(sample.gauges, 'gauges read from /metrics');
    }
    assert.ok(phases('load').some((s) => (s.gauges?.inRoom ?? 0) > 0), 'members in rooms under load');

    // One row per resource, the four judged ones with a threshold.
    const judged = soak.resources.filter((r) => r.judged).map((r) => r.key);
    assert.deepEqual(judged.sort(), ['fds', 'heapUsedMiB', 'rssMiB', 'timers']);
    for (const r of soak.resources) {
      for (const key of ['baseline', 'start', 'end', 'max', 'after', 'slopePerMin', 'thresholdPerMin', 'flat'] as const) assert.ok(key in r, `${r.key}.${key}`);
    }
    assert.ok(soak.settle.checks.length > 0);
    for (const key of ['flat', 'settled', 'honestClean', 'pass'] as const) assert.ok(key in soak.verdict, key);

    // Honest clients did everything and were never refused, throttled or closed.
    const honest = soak.honest!;
    assert.ok(honest, 'honest counters');
    assert.equal(honest.errors, 0, `honest clients saw errors: ${honest.firstErrors.join('\n')}`);
    assert.equal(soak.verdict.honestClean, true);
    for (const key of ['honest.joined', 'honest.sent', 'honest.delivered', 'turn.allocations', 'turn.received']) {
      assert.ok((honest.counts[key] ?? 0) > 0, `honest ${key}: ${honest.counts[key] ?? 0}`);
    }
    // Abusers were answered by the limits.
    const abuse = soak.abuse!;
    assert.ok(abuse, 'abuse counters');
    assert.ok((abuse.counts['pw.unauthorized'] ?? 0) > 0, 'wrong passwords answered unauthorized');
    assert.ok((abuse.counts['turnMinimal.answer.oversized.400'] ?? 0) > 0, 'oversized STUN answered 400');
    assert.ok(Object.keys(soak.counters.delta).length > 0, 'server counters moved');

    assert.ok(result.headlines.some((h) => h.name === 'soak: errors seen by honest clients' && h.value === 0));
    assert.match(formatReport(result), /Soak: .* against ours/);
  });

  it('parses the command line', () => {
    assert.equal(parseArgs([]).preset, 'default');
    const full = parseArgs(['--full']);
    assert.equal(full.preset, 'full');
    assert.equal(full.idle.connections, 18_000);
    assert.equal(parseArgs(['--profile']).profile !== null, true);
    assert.deepEqual(parseArgs(['--only', 'idle,churn']).suites, ['idle', 'churn']);
    assert.deepEqual(parseArgs([]).suites.slice(0, 2), ['signaling', 'storm'], 'the profiles of real use run first');
    assert.equal(full.storm.clients, 10_000);
    assert.ok(!parseArgs([]).suites.includes('cluster'), 'the cluster suite runs only when asked for');
    const cluster = parseArgs(['--only', 'cluster', '--connections', '600']);
    assert.deepEqual(cluster.suites, ['cluster']);
    assert.equal(cluster.cluster.capacity.connections, 600);
    const churnProfile = parseArgs(['--profile', '--only', 'churn']);
    assert.deepEqual(churnProfile.suites, ['churn']);
    assert.ok(churnProfile.profile);
    assert.equal(parseArgs(['--connections=500']).idle.connections, 500);
    assert.ok(!parseArgs([]).suites.includes('soak'), 'the soak runs only when asked for');
    const soak = parseArgs(['--only', 'soak', '--soak-minutes', '0.5']);
    assert.deepEqual(soak.suites, ['soak']);
    assert.equal(soak.soak.minutes, 0.5);
    assert.equal(parseArgs(['--only', 'soak']).soak.minutes, 20);
    assert.throws(() => parseArgs(['--soak-minutes', '5']), /--only soak/);
    assert.throws(() => parseArgs(['--only', 'soak', '--soak-minutes', '0']), /soak-minutes/);
    assert.equal(parseArgs(['--only', 'soak']).soak.heapSnapshots, null);
    assert.match(parseArgs(['--only', 'soak', '--soak-heap-snapshots']).soak.heapSnapshots ?? '', /soak-heap-/);
    assert.throws(() => parseArgs(['--soak-heap-snapshots']), /--only soak/);
    assert.throws(() => parseArgs(['--nope']), /unknown option/);
    assert.throws(() => parseArgs(['--only', 'x']), /unknown suite/);
  });
});
