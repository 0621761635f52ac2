/**
 * The profiles of real use (issue 13) at tiny sizes, so that they cannot
 * rot: the signaling profile (small rooms, low steady rates, ICE exchanges)
 * and the reconnect storm, each against our server and the bare relay in
 * separate processes; the JSON has the expected shape and non-zero counts,
 * and both come first in the printed report and the headlines. No timing
 * is asserted (issue 5).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport } from '../../bench/lib/report.js';
import { offeredPerS } from '../../bench/suites/signaling.js';
import { preset } from '../../bench/lib/config.js';
import { runAlone } from '../helpers/bench.js';

describe('bench harness (smoke): profiles of real use', () => {
  it('runs the signaling profile: every member delivers, ours and the bare relay compared per round', { timeout: 120_000 }, async (t) => {
    const { config, result } = await runAlone(t, 'signaling');
    const sig = result.signaling!;
    assert.ok(sig, 'the signaling profile ran');
    const members = Array.from({ length: config.signaling.rooms }, (_, r) => config.signaling.roomSizes[r % config.signaling.roomSizes.length]!).reduce((a, b) => a + b, 0);
    assert.equal(sig.config.members, members);
    for (const target of ['ours', 'bare'] as const) {
      const run = sig.runs.find((r) => r.target === target);
      assert.ok(run, `${target} ran`);
      assert.equal(run.error, null, `${target}: ${run.error}`);
      const step = run.step!;
      assert.ok(step.sent > 0 && step.delivered > 0, `${target}: sent ${step.sent}, delivered ${step.delivered}`);
      assert.equal(step.selfEcho, 0, `${target}: a member got its own message back`);
      assert.equal(typeof step.msgsPerCpuS, 'number');
      assert.equal(typeof step.p99Ms, 'number');
    }
    assert.equal(sig.efficiencyRatios.length, 1);
    assert.equal(result.headlines[0]!.name.startsWith('signaling profile: msgs per server CPU-s, ours / bare relay'), true);
    const report = formatReport(result);
    assert.match(report, /Signaling profile \(real use\)/);
  });

  it('runs a reconnect storm: every client dropped comes back to its room', { timeout: 120_000 }, async (t) => {
    const { config, result } = await runAlone(t, 'storm');
    const storm = result.storm!;
    assert.ok(storm, 'the storm ran');
    for (const target of ['ours', 'bare'] as const) {
      const run = storm.runs.find((r) => r.target === target);
      assert.ok(run, `${target} ran`);
      assert.equal(run.error, null, `${target}: ${run.error}`);
      assert.equal(run.connected, config.storm.clients);
      assert.equal(run.back, config.storm.clients, `${target}: ${run.notBack} not back (${run.firstError})`);
      assert.equal(typeof run.allBackS, 'number');
      assert.ok(run.allBackS! > 0);
      assert.equal(typeof run.attemptP99Ms, 'number');
    }
    assert.equal(storm.cpuRatios.length, 1);
    assert.ok(result.headlines[0]!.name.startsWith('reconnect storm:'));
    assert.match(formatReport(result), /Reconnect storm \(real use\)/);
  });

  it('asks for the deliveries the load makes: steady broadcasts to the others, exchanges both ways', () => {
    const s = { ...preset('default').signaling, rooms: 2, roomSizes: [2, 3], memberRates: [10], candidatesPerPeer: 1, rejoinEveryMs: [1_000, 1_000] as const };
    // Steady: room of 2: 2 × 10 × 1, room of 3: 3 × 10 × 2. Exchanges per second: 2·1·2 + 2·2·2.
    assert.equal(offeredPerS(s), 20 + 60 + 4 + 8);
  });
});
