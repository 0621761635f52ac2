/**
 * The cluster suite of the bench (`--only cluster`) at tiny sizes, so that
 * it cannot rot: one server, a one-node cluster and two servers on one
 * real redis-server, each a separate process; the JSON has the expected
 * shape and non-zero counts. No timing is asserted (issue 5). A file of its
 * own: each test file has 180 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisUnavailable } from '../../bench/lib/redis.js';
import { formatReport } from '../../bench/lib/report.js';
import { runAlone } from '../helpers/bench.js';

describe('bench harness (smoke): cluster', () => {
  it('runs the cluster suite at tiny sizes: one server, a one-node cluster and two servers on one redis-server', { timeout: 180_000, skip: redisUnavailable() ?? false }, async (t) => {
    const { config, result } = await runAlone(t, 'cluster');
    const cluster = result.cluster!;
    assert.ok(cluster, 'the cluster suite ran');
    assert.equal(cluster.status, 'ran', cluster.reason);
    assert.match(cluster.redis.version ?? '', /^\d+\.\d+/);
    for (const mode of ['broadcast', 'unicast'] as const) {
      for (const target of ['plain', 'one', 'two'] as const) {
        const run = cluster.runs.find((r) => r.mode === mode && r.target === target);
        assert.ok(run, `${mode} ${target} ran`);
        assert.equal(run.error, null, `${mode} ${target}: ${run.error}`);
        assert.equal(run.servers, target === 'two' ? 2 : 1);
        assert.equal(run.clientsPerServer.reduce((a, b) => a + b, 0), config.fanout.rooms * config.fanout.clientsPerRoom);
        for (const step of [...run.steps, run.max!]) {
          assert.ok(step.delivered > 0, `${mode} ${target} ${step.label} delivered nothing`);
          assert.equal(step.lost, 0, `${mode} ${target} ${step.label} lost messages`);
          assert.equal(step.serverCpuPctEach.length, run.servers);
          assert.equal(typeof step.msgsPerCpuS, 'number');
        }
        if (target === 'plain') assert.equal(run.redis, null);
        else assert.ok(run.redis, `${mode} ${target}: Redis stats`);
      }
      // Two servers: a room's broadcasts reach the other server's members through Redis.
      const two = cluster.runs.find((r) => r.mode === mode && r.target === 'two')!;
      assert.ok(two.clientsPerServer.every((n) => n > 0), 'clients on both servers');
      if (mode === 'broadcast') assert.ok(two.redis!.publishCalls > 0, 'two servers published over Redis');
      const cmp = cluster.comparisons.find((c) => c.mode === mode && c.subject === 'two' && c.baseline === 'one');
      assert.ok(cmp && cmp.efficiencyRatios.length === 1, `${mode}: two / one compared`);
    }
    for (const target of ['one', 'two'] as const) {
      const cap = cluster.capacity.find((r) => r.target === target);
      assert.ok(cap, `capacity ${target} ran`);
      assert.equal(cap.error, null, `capacity ${target}: ${cap.error}`);
      assert.equal(cap.connected, config.cluster.capacity.connections, `capacity ${target}: ${cap.firstError}`);
      assert.equal(cap.servers.length, target === 'two' ? 2 : 1);
      assert.ok((cap.redis.keysAfter ?? 0) > 0, `capacity ${target}: membership in Redis`);
    }
    assert.ok(result.headlines.some((h) => h.name === 'cluster broadcast: msgs per server CPU-s, two servers / one server + Redis'));
    assert.match(formatReport(result), /Cluster: /);
  });
});
