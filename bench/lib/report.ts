/** The printed table of a bench run. */
import type { BenchResult, Headline } from '../run.js';
import type { StepResult } from '../suites/fanout.js';
import type { ClusterResult } from '../suites/cluster.js';
import type { SignalingResult } from '../suites/signaling.js';
import type { SoakResult } from '../suites/soak.js';
import { formatTurnStreams } from '../suites/turn.js';
import { formatTurnCores } from '../suites/turn-cores.js';
import type { StormSuiteResult } from '../suites/storm.js';
import type { ProfileSummary } from './profile.js';
import { TARGET_LABELS } from './procs.js';

function table(header: string[], rows: (string | number | null)[][], align?: ('l' | 'r')[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const fmt = (v: number | null | undefined, digits = 0): string | null => (v === null || v === undefined ? null : v.toFixed(digits));

function stepRow(mode: string, target: string, round: number, s: StepResult): (string | number | null)[] {
  return [
    mode,
    target,
    round + 1,
    s.label,
    fmt(s.deliveredPerS),
    fmt(s.p50Ms, 2),
    fmt(s.p99Ms, 2),
    fmt(s.serverCpuPct),
    fmt(s.msgsPerCpuS),
    fmt(s.generatorCpuPct),
    fmt(s.otherCpuPct),
  ];
}

export function formatHeadlines(headlines: Headline[]): string {
  return table(
    ['headline', 'value', 'per round', 'goal', 'met', 'note'],
    headlines.map((h) => [
      h.name,
      h.value === null ? null : `${Number(h.value.toPrecision(4))}${h.unit ? ` ${h.unit}` : ''}`,
      h.perRound?.length ? h.perRound.join(', ') : null,
      h.goal || null,
      h.met === null ? null : h.met ? 'yes' : 'NO',
      h.note ?? '',
    ]),
    ['l', 'r', 'l', 'l', 'l', 'l'],
  );
}

export function formatReport(result: BenchResult): string {
  const out: string[] = [];
  const m = result.machine;
  out.push(`webrtc-server bench, ${result.startedAt}, preset ${result.preset}, ${result.rounds} round(s), targets alternating A B … per round`);
  out.push(`machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}, node ${m.node}; load average ${m.loadBefore.join(' ')} before, ${m.loadAfter.join(' ')} after`);
  out.push('Shared, noisy machine: compare ratios, not absolutes. gen% = load generators, other% = everything else on the machine (percent of one core).');
  if (result.signaling) {
    out.push('');
    out.push(...formatSignaling(result.signaling));
  }
  if (result.storm) {
    out.push('');
    out.push(...formatStorm(result.storm));
  }
  if (result.fanout) {
    const f = result.fanout;
    out.push('');
    out.push(`1. Signaling fan-out, heavy profile (few rooms, thousands of msgs/s per member): ${f.config.rooms} rooms × ${f.config.clientsPerRoom} clients, ICE-candidate messages; open-loop steps in delivered msgs/s, then "max" (closed loop, ${f.config.window} deliveries in flight per room)`);
    const rows = f.runs.flatMap((r) =>
      r.error
        ? [[r.mode, r.target, r.round + 1, 'error', r.error.slice(0, 60), null, null, null, null, null, null]]
        : [...r.steps, ...(r.max ? [r.max] : [])].map((s) => stepRow(r.mode, r.target, r.round, s)),
    );
    out.push(table(['mode', 'target', 'rnd', 'step', 'deliv/s', 'p50 ms', 'p99 ms', 'srv CPU%', 'msgs/CPU-s', 'gen%', 'other%'], rows));
    for (const s of f.skipped) out.push(`skipped ${TARGET_LABELS[s.target]} (${s.mode}): ${s.reason}`);
  }
  if (result.idle) {
    const i = result.idle;
    out.push('');
    out.push(`2. Idle capacity: ${i.config.connections} authenticated idle connections in rooms of ${i.config.roomSize}, clients over ${i.config.workers} processes (open files: soft ${i.config.softFileLimit ?? '?'}, hard ${i.config.hardFileLimit ?? '?'})`);
    out.push(
      table(
        ['target', 'rnd', 'held', 'failed', 'conn/s', 'RSS before KiB', 'RSS after KiB', 'KiB/conn', 'heap KiB/conn'],
        i.runs.map((r) => [r.target, r.round + 1, r.connected, r.failed, fmt(r.connectPerS), r.rssBeforeKiB, r.rssAfterKiB, fmt(r.perConnKiB, 2), fmt(r.heapPerConnKiB, 2)]),
      ),
    );
    for (const r of i.runs) if (r.error || r.firstError) out.push(`  ${r.target} round ${r.round + 1}: ${r.error ?? r.firstError}`);
  }
  if (result.churn) {
    const c = result.churn;
    out.push('');
    out.push(`3. Churn: ${c.config.loops} concurrent loops of connect + authenticate/join + close/leave, ${c.config.durationMs} ms each run after ${c.config.warmupMs} ms of warm-up`);
    out.push(
      table(
        ['target', 'rnd', 'cycles', 'errors', 'cycles/s', 'p50 ms', 'p99 ms', 'srv CPU s', 'cycles/CPU-s', 'gen%', 'other%'],
        c.runs.map((r) => [r.target, r.round + 1, r.cycles, r.errors, fmt(r.cyclesPerS), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.serverCpuS, 2), fmt(r.cyclesPerCpuS), fmt(r.generatorCpuPct), fmt(r.otherCpuPct)]),
      ),
    );
    for (const r of c.runs) if (r.error || r.firstError) out.push(`  ${r.target} round ${r.round + 1}: ${r.error ?? r.firstError}`);
  }
  if (result.turn) {
    const t = result.turn;
    out.push('');
    if (t.status === 'not run') {
      out.push(`4. TURN relay vs coturn: not run: ${t.reason}`);
    } else {
      const c = t.config;
      out.push(
        `4. TURN relay vs coturn: ${c.sessions} sessions (allocation + channel to a UDP echo peer) over ${c.workers} process(es), ${c.window} ChannelData packets of ${c.payloadBytes} B in flight each; relayed = 2 × echoed${t.reason ? `; ${t.reason}` : ''}`,
      );
      out.push(
        table(
          ['target', 'rnd', 'sessions', 'relayed pkt/s', 'rtt p50 ms', 'rtt p99 ms', 'lost', 'srv CPU%', 'kernel%', 'pkts/CPU-s', 'gen%', 'other%'],
          t.runs.map((r) =>
            r.error
              ? [r.target, r.round + 1, 'error', r.error.slice(0, 70), null, null, null, null, null, null, null, null]
              : [r.target, r.round + 1, r.sessions, fmt(r.relayedPerS), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), r.lost, fmt(r.serverCpuPct), fmt(r.serverSysPct), fmt(r.pktsPerCpuS), fmt(r.generatorCpuPct), fmt(r.otherCpuPct)],
          ),
        ),
      );
      out.push(...formatTurnStreams(t.streams, table));
    }
    if (t.cores) out.push(...formatTurnCores(t.cores, table));
  }
  if (result.cluster) {
    out.push('');
    out.push(...formatCluster(result.cluster));
  }
  if (result.soak) {
    out.push('');
    out.push(...formatSoak(result.soak));
  }
  out.push('');
  out.push(formatHeadlines(result.headlines));
  return out.join('\n');
}

export function formatSignaling(sig: SignalingResult): string[] {
  const c = sig.config;
  const out = [
    `Signaling profile (real use): ${c.rooms} rooms of ${c.roomSizes.join('/')} members (${c.members} in all), each broadcasting ${c.memberRates.join('/')} msgs/s; ` +
      `every ${c.rejoinEveryMs[0] / 1000}-${c.rejoinEveryMs[1] / 1000} s a member of each room (re)joins its call: offer-sized SDP + ${c.candidatesPerPeer} candidates (one per ${c.trickleMs} ms) to each peer, answered alike; ` +
      `about ${c.offeredPerS} deliveries/s asked; ${c.measureMs / 1000} s window after ${c.warmupMs / 1000} s; rd/msg, wr/msg: the server's read and write system calls per delivered message`,
  ];
  out.push(
    table(
      ['target', 'rnd', 'members', 'sent/s', 'deliv/s', 'p50 ms', 'p99 ms', 'max ms', 'srv CPU%', 'msgs/CPU-s', 'rd/msg', 'wr/msg', 'skipped', 'lagged', 'gen%', 'other%'],
      sig.runs.map((r) =>
        !r.step
          ? [r.target, r.round + 1, r.members, 'error', (r.error ?? '').slice(0, 60), null, null, null, null, null, null, null, null, null, null, null]
          : [
              r.target,
              r.round + 1,
              r.members,
              fmt(r.step.sent / r.step.windowS),
              fmt(r.step.deliveredPerS),
              fmt(r.step.p50Ms, 2),
              fmt(r.step.p99Ms, 2),
              fmt(r.step.maxMs, 1),
              fmt(r.step.serverCpuPct),
              fmt(r.step.msgsPerCpuS),
              fmt(r.readsPerMsg, 2),
              fmt(r.writesPerMsg, 2),
              r.step.skipped,
              r.step.lagged,
              fmt(r.step.generatorCpuPct),
              fmt(r.step.otherCpuPct),
            ],
      ),
    ),
  );
  if (sig.efficiencyRatios.length) out.push(`   msgs/CPU-s ours / bare relay per round: ${sig.efficiencyRatios.join(', ')} (median ${sig.efficiencyRatio})`);
  return out;
}

export function formatStorm(storm: StormSuiteResult): string[] {
  const c = storm.config;
  const out = [
    `Reconnect storm (real use): ${c.clients} clients in rooms of ${c.roomSize} over ${c.workers} processes, all sockets destroyed at once; each reconnects after 0-${c.jitterMs} ms (uniform), ` +
      `a failed attempt retried after ${c.retryDelayMs} ms (${c.retries} times at most); back = in its room (ours: authenticated); goal: ${c.goalClients} back within ${c.goalS} s`,
  ];
  out.push(
    table(
      ['target', 'rnd', 'clients', 'back', 'not back', 'errors', 'all back s', 'back p50 ms', 'back p99 ms', 'reconn p50 ms', 'reconn p99 ms', 'reconn max ms', 'srv CPU%', 'CPU ms/reconn', 'gen%', 'other%'],
      storm.runs.map((r) => [
        r.target,
        r.round + 1,
        r.connected,
        r.back,
        r.notBack,
        r.errors,
        fmt(r.allBackS, 2),
        fmt(r.backP50Ms),
        fmt(r.backP99Ms),
        fmt(r.attemptP50Ms, 1),
        fmt(r.attemptP99Ms, 1),
        fmt(r.attemptMaxMs, 1),
        fmt(r.serverCpuPct),
        fmt(r.cpuMsPerReconnect, 3),
        fmt(r.generatorCpuPct),
        fmt(r.otherCpuPct),
      ]),
    ),
  );
  for (const r of storm.runs) if (r.error || r.firstError) out.push(`  ${r.target} round ${r.round + 1}: ${r.error ?? r.firstError}`);
  return out;
}

const CLUSTER_TARGET = { plain: '1 srv', one: '1 srv+redis', two: '2 srv+redis' } as const;

export function formatCluster(cl: ClusterResult): string[] {
  const out: string[] = [];
  const c = cl.config;
  if (cl.status === 'not run') {
    out.push(`6. Cluster: not run: ${cl.reason}`);
    return out;
  }
  out.push(
    `6. Cluster: ${c.rooms} rooms × ${c.clientsPerRoom} clients, the fan-out load (steps, then max with ${c.window} deliveries in flight per room); ` +
      `1 srv = ours without Redis, 1 srv+redis = ours with redisUrl alone (one-node cluster), 2 srv+redis = two of ours on one Redis, every room's members split between them`,
  );
  out.push(`   srv CPU% = the servers summed (each: A/B); msgs/CPU-s per server CPU-second; redis% = redis-server (${cl.redis.version ? `Redis ${cl.redis.version}` : 'redis-server'}), +redis: msgs per CPU-s of servers and redis-server together; rd/msg, wr/msg: the servers' read and write system calls per delivered message`);
  const rows = cl.runs.flatMap((r) =>
    r.error
      ? [[r.mode, CLUSTER_TARGET[r.target], r.round + 1, 'error', r.error.slice(0, 60), null, null, null, null, null, null, null, null, null, null, null]]
      : [...r.steps, ...(r.max ? [r.max] : [])].map((s) => [
          r.mode,
          CLUSTER_TARGET[r.target],
          r.round + 1,
          s.label,
          fmt(s.deliveredPerS),
          fmt(s.p50Ms, 2),
          fmt(s.p99Ms, 2),
          fmt(s.serverCpuPct),
          s.serverCpuPctEach.length > 1 ? s.serverCpuPctEach.map((v) => fmt(v) ?? '?').join('/') : '',
          fmt(s.msgsPerCpuS),
          fmt(s.redisCpuPct),
          fmt(s.msgsPerCpuSWithRedis),
          fmt(s.readsPerMsg, 2),
          fmt(s.writesPerMsg, 2),
          fmt(s.generatorCpuPct),
          fmt(s.otherCpuPct),
        ]),
  );
  out.push(table(['mode', 'target', 'rnd', 'step', 'deliv/s', 'p50 ms', 'p99 ms', 'srv CPU%', 'each', 'msgs/CPU-s', 'redis%', '+redis', 'rd/msg', 'wr/msg', 'gen%', 'other%'], rows));
  const redisRows = cl.runs.filter((r) => r.redis);
  if (redisRows.length) {
    out.push(
      `   Redis over each run's load: ${redisRows
        .map((r) => `${r.mode} ${CLUSTER_TARGET[r.target]} r${r.round + 1}: ${r.redis!.publishCalls} PUBLISH (${r.redis!.publishUsecPerCall ?? '-'} µs each), ${r.redis!.evalCalls} scripts, ${fmt(r.redis!.cpuS, 2) ?? '?'} CPU-s`)
        .join('; ')}`,
    );
  }
  if (cl.comparisons.length) {
    out.push(
      table(
        ['mode', 'ratio', 'max deliv/s', 'msgs/CPU-s', 'msgs/CPU-s +redis', 'per round (msgs/CPU-s)'],
        cl.comparisons.map((x) => [
          x.mode,
          `${CLUSTER_TARGET[x.subject]} / ${CLUSTER_TARGET[x.baseline]}`,
          fmt(x.throughputRatio, 2),
          fmt(x.efficiencyRatio, 2),
          fmt(x.efficiencyWithRedisRatio, 2),
          x.efficiencyRatios.join(', '),
        ]),
        ['l', 'l', 'r', 'r', 'r', 'l'],
      ),
    );
  }
  const p99 = cl.p99At10k.filter((p) => p.perRound.some((v) => v !== null));
  if (p99.length) out.push(`   p99 at 10k delivered/s: ${p99.map((p) => `${p.mode} ${CLUSTER_TARGET[p.target]} ${p.median} ms (${p.perRound.map((v) => v ?? '-').join(', ')})`).join('; ')}`);
  if (cl.capacity.length) {
    out.push(`   capacity: ${c.capacity.connections} idle authenticated connections in rooms of ${c.capacity.roomSize} (two servers: 2 + 2 per room), clients over ${c.capacity.workers} processes`);
    out.push(
      table(
        ['target', 'held', 'failed', 'rooms', 'conn/s', 'server', 'conns', 'RSS before KiB', 'RSS after KiB', 'KiB/conn', 'KiB/member', 'heap KiB/conn', 'Redis B/member', 'Redis RSS KiB', 'keys'],
        cl.capacity.flatMap((r) =>
          r.servers.length === 0
            ? [[CLUSTER_TARGET[r.target], r.connected, r.failed, r.rooms, fmt(r.connectPerS), r.error ?? '-', null, null, null, null, null, null, null, null, null]]
            : r.servers.map((s, i) => [
                i === 0 ? CLUSTER_TARGET[r.target] : '',
                i === 0 ? r.connected : '',
                i === 0 ? r.failed : '',
                i === 0 ? r.rooms : '',
                i === 0 ? fmt(r.connectPerS) : '',
                r.servers.length > 1 ? 'AB'[i]! : 'A',
                s.connections,
                s.rssBeforeKiB,
                s.rssAfterKiB,
                fmt(s.perConnKiB, 2),
                fmt(s.perMemberKiB, 2),
                fmt(s.heapPerConnKiB, 2),
                i === 0 ? fmt(r.redis.bytesPerMember) : '',
                i === 0 ? (r.redis.rssBeforeKiB !== null && r.redis.rssAfterKiB !== null ? `${r.redis.rssBeforeKiB} → ${r.redis.rssAfterKiB}` : null) : '',
                i === 0 ? r.redis.keysAfter : '',
              ]),
        ),
      ),
    );
    for (const r of cl.capacity) if (r.error || r.firstError) out.push(`  ${CLUSTER_TARGET[r.target]}: ${r.error ?? r.firstError}`);
  }
  return out;
}

const yes = (v: boolean | null) => (v === null ? '-' : v ? 'yes' : 'NO');

/** Counters whose name starts with `prefix`, as `rest n` pairs (`rest` without the prefix), in one line. */
function countsLine(counts: Record<string, number>, prefix: string): string {
  return Object.entries(counts)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]) => `${k.slice(prefix.length)} ${v}`)
    .join(', ');
}

export function formatSoak(soak: SoakResult): string[] {
  const out: string[] = [];
  const c = soak.config;
  const l = c.load;
  out.push(
    `5. Soak: ${c.minutes} min against ours (TURN on, default limits), honest and abusive load from separate addresses; a sample every ${c.sampleMs / 1000} s, ` +
      `slopes over the ${soak.slopeSamples} samples after the first ${Math.round(c.warmupShare * 100)}% (warm-up)`,
  );
  out.push(
    `   honest: ${l.steadyRooms} long-call rooms of ${l.roomSize[0]}-${l.roomSize[1]} (members stay ${l.steadyLifetimeS[0]}-${l.steadyLifetimeS[1]} s, seats re-taken, a new room every ${l.steadyRoomS[0]}-${l.steadyRoomS[1]} s) + ${l.briefRooms} short-call rooms (${l.briefLifetimeS[0]}-${l.briefLifetimeS[1]} s), ` +
      `offer/answer + ${l.candidatesPerPeer} candidates per peer, ${l.memberRates.join('/')} msgs/s per member; ${l.turnSessions} TURN sessions (${l.turnPps} pkt/s each way, ${l.turnLifetimeS[0]}-${l.turnLifetimeS[1]} s)`,
  );
  if (soak.status === 'failed') out.push(`   FAILED: ${soak.error}`);
  out.push(
    table(
      ['resource', 'unit', 'idle', 'start', 'end', 'max', 'slope/min', 'limit/min', 'flat', 'after stop'],
      soak.resources.map((r) => [
        r.name,
        r.unit,
        r.baseline,
        r.start,
        r.end,
        r.max,
        r.slopePerMin,
        r.thresholdPerMin === null ? '(not judged)' : `< ${r.thresholdPerMin}`,
        r.judged ? yes(r.flat) : '',
        r.after,
      ]),
    ),
  );
  out.push(
    `back at the idle baseline after the load stopped: ${yes(soak.settle.pass)} (after ${soak.settle.seconds ?? '?'} s: ` +
      soak.settle.checks.map((ch) => `${ch.name} ${ch.after ?? '?'}${ch.limit !== null && ch.limit !== 0 ? ` ≤ ${ch.limit}` : ''}${ch.pass === false ? ' NO' : ''}`).join(', ') +
      ')',
  );
  const h = soak.honest;
  if (h) {
    const n = (k: string) => h.counts[k] ?? 0;
    out.push(
      `honest clients: ${n('honest.connects')} connections (${n('honest.joined')} joined, ${n('honest.steadyRooms') + n('honest.briefRooms')} rooms), ` +
        `${n('honest.sent')} messages sent (${n('honest.offers')} offers, ${n('honest.answers')} answers, ${n('honest.broadcasts')} broadcasts, ${n('honest.unicasts')} unicasts), ` +
        `${n('honest.delivered')} delivered, latency p50 ${h.latencyP50Ms ?? '?'} ms p99 ${h.latencyP99Ms ?? '?'} ms max ${h.latencyMaxMs ?? '?'} ms; ` +
        `${n('honest.unknownPeerRace')} unicasts raced a leave (unknown_peer)`,
    );
    out.push(
      `honest TURN: ${n('turn.allocations')} allocations, ${n('turn.permissions')} permissions, ${n('turn.channelBinds')} channels, ${n('turn.refreshes')} refreshes, ` +
        `${n('turn.deallocations')} deallocated, ${n('turn.vanished')} left to expire; ${n('turn.sent')} ChannelData + ${n('turn.sendIndications')} Send indications out, ` +
        `${n('turn.received')} back (rtt p50 ${h.turnRttP50Ms ?? '?'} ms p99 ${h.turnRttP99Ms ?? '?'} ms), ${n('turn.dataIndications')} Data indications`,
    );
    out.push(`ERRORS SEEN BY HONEST CLIENTS: ${h.errors}${h.errors ? ` (${Object.entries(h.errorKinds).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`);
    for (const e of h.firstErrors) out.push(`  ${e}`);
  }
  const a = soak.abuse;
  if (a) {
    const d = (k: string) => {
      const x = a.durations[k];
      return x ? `${(x.sumS / x.n).toFixed(1)} s mean, ${x.maxS.toFixed(1)} s max` : '-';
    };
    out.push('abuse (what the abusers did and got back):');
    out.push(
      table(
        ['abuse', 'seen'],
        [
          ['member that stops reading', `${countsLine(a.counts, 'slow.')}; evicted after ${d('slowConsumerEvicted')}`],
          ['over the rate limit', `${countsLine(a.counts, 'flood.')}; closed after ${d('rateLimitClosed')}`],
          ['wrong passwords (signaling)', countsLine(a.counts, 'pw.')],
          ['frames over maxMessageBytes', countsLine(a.counts, 'oversized.')],
          ['idle TCP, never upgraded', `${countsLine(a.counts, 'idleTcp.')}; closed after ${d('idleTcpClosed')}`],
          ['huge / invalid `to`', countsLine(a.counts, 'hugeTo.')],
          ['TURN made-up usernames', countsLine(a.counts, 'turnMadeUp.')],
          ['TURN wrong passwords', countsLine(a.counts, 'turnWrongPassword.')],
          ['TURN minimal / malformed', countsLine(a.counts, 'turnMinimal.')],
        ],
        ['l', 'l'],
      ),
    );
    const joinFailed = countsLine(a.counts, '').split(', ').filter((x) => x.includes('joinFailed') || x.startsWith('generator'));
    if (joinFailed.length) out.push(`  abusers that could not even join: ${joinFailed.join(', ')}`);
  }
  if (soak.heap) {
    const rows = (list: typeof soak.heap.underLoad) =>
      list.slice(0, 15).map((g) => [g.key, g.count, (g.bytes / 1024).toFixed(1), g.countBefore, (g.bytesBefore / 1024).toFixed(1)]);
    out.push(`heap snapshots: ${Object.values(soak.heap.files).join(', ') || 'none'}${soak.heap.error ? ` (${soak.heap.error})` : ''}`);
    if (soak.heap.underLoad.length) {
      out.push('grew under steady load (end of warm-up → end of load), by constructor / kind:');
      out.push(table(['group', '+count', '+KiB', 'count before', 'KiB before'], rows(soak.heap.underLoad)));
    }
    if (soak.heap.retained.length) {
      out.push('held once idle again (idle → settled):');
      out.push(table(['group', '+count', '+KiB', 'count before', 'KiB before'], rows(soak.heap.retained)));
    }
  }
  const delta = soak.counters.delta;
  if (Object.keys(delta).length) {
    out.push('server counters over the run (/metrics, webrtc_*_total, change):');
    const short = (k: string) => k.replace(/^webrtc_/, '').replace(/_total/, '');
    out.push(`  ${Object.entries(delta).map(([k, v]) => `${short(k)} ${v}`).join(', ')}`);
  }
  return out;
}

export function formatProfile(summary: ProfileSummary, title: string, top: number): string {
  const out: string[] = [];
  out.push(`${title}: ${summary.busyMs} ms busy of ${summary.totalMs} ms sampled ${summary.loadOnly ? 'under load' : 'over the whole process life'} (${summary.file})`);
  out.push(
    table(
      ['#', 'self ms', 'self %', 'function', 'where', 'area'],
      summary.top.slice(0, top).map((f, i) => [i + 1, f.selfMs.toFixed(1), f.selfPct.toFixed(1), f.functionName, f.location, f.area]),
      ['r', 'r', 'r', 'l', 'l', 'l'],
    ),
  );
  if (summary.byOurs?.some((f) => f.area.startsWith('ours:'))) {
    out.push('charged to the innermost function of ours on the stack (its self time + the library/Node code it called):');
    out.push(
      table(
        ['#', 'ms', '%', 'function of ours', 'where', 'area'],
        summary.byOurs.slice(0, top).map((f, i) => [i + 1, f.selfMs.toFixed(1), f.selfPct.toFixed(1), f.functionName, f.location, f.area]),
        ['r', 'r', 'r', 'l', 'l', 'l'],
      ),
    );
  }
  out.push('by area:');
  out.push(
    table(
      ['area', 'self ms', 'self %'],
      summary.areas.slice(0, 12).map((a) => [a.area, a.selfMs.toFixed(1), a.selfPct.toFixed(1)]),
    ),
  );
  return out.join('\n');
}
