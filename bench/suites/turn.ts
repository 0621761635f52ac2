/**
 * Suite 4, TURN relay vs coturn: packets relayed per second through our TURN
 * listener and through coturn's `turnserver`, same machine, same run, same
 * client, targets alternating per round (ours, coturn, ours, coturn …), each
 * run on a freshly started server.
 *
 * The client (bench/load/turn-client.ts, in the load-generator processes)
 * opens N sessions: each allocates a relay with long-term credentials and
 * binds a channel to one UDP echo peer (coturn's `turnutils_peer`), then
 * keeps W ChannelData packets in flight: client → server → relay → peer →
 * relay → server → client. A packet that comes back was relayed twice, so
 * relayed packets/s = 2 × echoed/s. Server CPU-seconds come from
 * /proc/<pid>/stat (coturn's threads included). A third target, the bare
 * Node relay (bench/targets/bare-turn.ts: no auth, no checks), tells how much
 * of the gap to coturn is Node's UDP itself.
 *
 * Then the same over streams (RFC 8656 section 5): TURN over TCP and over
 * TLS, ours versus coturn (both with TCP and TLS on, the same certificate;
 * one server per target and round, measured over TCP then TLS), one client
 * process of its own per run (bench/load/turn-stream-client.ts:
 * the same sessions, each on one connection), relayed packets per server
 * CPU-second over the client's measured window.
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BenchConfig, TurnTargetKind } from '../lib/config.js';
import { nowUs } from '../lib/hist.js';
import { COTURN_BIN, freePort, procCpuSeconds, ROOT, sleep, startCoturn, startEchoPeer, startTarget } from '../lib/procs.js';
import type { LoadWorker, TargetProcess, UdpProcess, WorkerPool } from '../lib/procs.js';
import type { Options } from '../../src/index.js';
import { BENCH_PASSWORD } from '../lib/protocols.js';
import type { StreamClientConfig, StreamClientStats } from '../load/turn-stream-client.js';
import { errorText, median, round, tearDown } from './common.js';
import { runTurnCores } from './turn-cores.js';
import type { TurnCoresResult } from './turn-cores.js';
import { measureTurn, openSessions, startTurnLoad, stopTurnLoad, TURN_REALM, TURN_USER } from './turn-load.js';
import type { TurnServerRef, TurnWindow } from './turn-load.js';

export interface TurnRun extends TurnWindow {
  target: TurnTargetKind;
  round: number;
  sessions: number;
  failedSessions: number;
  /** Load window on the monotonic clock, µs (for profiles). */
  loadWindowUs: { fromUs: number; toUs: number } | null;
  error: string | null;
}

export interface TurnResult {
  status: 'ran' | 'not run';
  reason: string;
  coturnInstalled: boolean;
  config: { sessions: number; workers: number; window: number; payloadBytes: number; warmupMs: number; measureMs: number; targets: TurnTargetKind[] };
  /** The echo peer's command line. */
  peer: string | null;
  /** coturn's command line (of the last run). */
  coturn: string | null;
  runs: TurnRun[];
  /** Per round: ours / coturn relayed packets/s. */
  throughputRatios: number[];
  /** Per round: ours / coturn relayed packets per server CPU-second. */
  efficiencyRatios: number[];
  throughputRatio: number | null;
  efficiencyRatio: number | null;
  /** Per round: ours / the bare Node relay, relayed packets per server CPU-second (what our TURN adds over Node's UDP). */
  vsBareEfficiencyRatios: number[];
  vsBareEfficiencyRatio: number | null;
  /** Per round: coturn's CPU (% of one core); well under 100 it was held back by the client, not by itself. */
  coturnCpuPct: (number | null)[];
  oursCpuPct: (number | null)[];
  /** TURN over TCP and TLS, ours vs coturn. */
  streams: TurnStreamResult;
  /** TURN on every core: relay threads 1 vs 2 vs coturn, signaling under TURN load. */
  cores: TurnCoresResult | null;
}

export type StreamTransport = 'tcp' | 'tls';

export interface TurnStreamRun {
  transport: StreamTransport;
  target: 'ours' | 'coturn';
  round: number;
  sessions: number;
  failedSessions: number;
  windowS: number;
  /** Packets relayed by the server (2 × echoed) per second. */
  relayedPerS: number;
  serverCpuS: number | null;
  serverCpuPct: number | null;
  /** Relayed packets per server CPU-second. */
  pktsPerCpuS: number | null;
  error: string | null;
}

export interface TurnStreamResult {
  runs: TurnStreamRun[];
  /** Per transport, per round: ours / coturn relayed packets per server CPU-second. */
  efficiencyRatios: Record<StreamTransport, number[]>;
  efficiencyRatio: Record<StreamTransport, number | null>;
  throughputRatio: Record<StreamTransport, number | null>;
}

export async function runTurn(config: BenchConfig, pool: WorkerPool): Promise<TurnResult> {
  const t = config.turn;
  const log = config.log ?? (() => {});
  const result: TurnResult = {
    status: 'ran',
    reason: '',
    coturnInstalled: COTURN_BIN !== null,
    config: { ...t, targets: [...t.targets] },
    peer: null,
    coturn: null,
    runs: [],
    throughputRatios: [],
    efficiencyRatios: [],
    throughputRatio: null,
    efficiencyRatio: null,
    vsBareEfficiencyRatios: [],
    vsBareEfficiencyRatio: null,
    coturnCpuPct: [],
    oursCpuPct: [],
    streams: {
      runs: [],
      efficiencyRatios: { tcp: [], tls: [] },
      efficiencyRatio: { tcp: null, tls: null },
      throughputRatio: { tcp: null, tls: null },
    },
    cores: null,
  };
  const targets = t.targets.filter((k) => k !== 'coturn' || COTURN_BIN !== null);
  if (targets.length < t.targets.length) result.reason = 'coturn is not installed (apt-get install coturn): ours measured alone, no ratio';
  if (t.payloadBytes < 12 || t.payloadBytes % 4 !== 0) throw new Error(`turn.payloadBytes must be a multiple of 4, at least 12 (got ${t.payloadBytes})`);
  const workers = await pool.get(t.workers);
  let peer: UdpProcess | null = null;
  try {
    peer = await startEchoPeer();
    result.peer = peer.command;
    for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
      for (const target of targets) {
        log(`turn round ${roundNo + 1}/${config.rounds}: ${target}`);
        const run = await oneRun(config, workers, pool, peer, target, roundNo, result);
        result.runs.push(run);
        if (run.error) log(`  failed: ${run.error}`);
        else log(`  ${run.relayedPerS} relayed pkt/s (${run.serverCpuPct ?? '?'}% CPU, ${run.lost} lost)`);
      }
    }
    await runStreams(config, peer, targets.includes('coturn'), result.streams);
  } catch (err) {
    result.status = 'not run';
    result.reason = `the echo peer did not start: ${errorText(err)}`;
  } finally {
    await peer?.stop();
  }
  result.cores = t.cores.rounds > 0 ? await runTurnCores(config, pool) : null;
  for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
    const a = result.runs.find((r) => r.round === roundNo && r.target === 'ours' && !r.error);
    const b = result.runs.find((r) => r.round === roundNo && r.target === 'coturn' && !r.error);
    const bare = result.runs.find((r) => r.round === roundNo && r.target === 'bare' && !r.error);
    if (a?.pktsPerCpuS && bare?.pktsPerCpuS) result.vsBareEfficiencyRatios.push(round(a.pktsPerCpuS / bare.pktsPerCpuS, 3));
    if (!a || !b) continue;
    result.oursCpuPct.push(a.serverCpuPct);
    result.coturnCpuPct.push(b.serverCpuPct);
    if (b.relayedPerS > 0) result.throughputRatios.push(round(a.relayedPerS / b.relayedPerS, 3));
    if (a.pktsPerCpuS !== null && b.pktsPerCpuS) result.efficiencyRatios.push(round(a.pktsPerCpuS / b.pktsPerCpuS, 3));
  }
  const med = (v: number[]) => {
    const m = median(v);
    return m === null ? null : round(m, 3);
  };
  result.throughputRatio = med(result.throughputRatios);
  result.efficiencyRatio = med(result.efficiencyRatios);
  result.vsBareEfficiencyRatio = med(result.vsBareEfficiencyRatios);
  return result;
}

/** A block of 500 relay ports under Linux's ephemeral range (32768+), away from the default 49152-65535. */
export function relayBlock(offset: number): [number, number] {
  const lo = 20_000 + 500 * ((randomInt(10) * 2 + offset) % 20);
  return [lo, lo + 499];
}

/** Our server with TURN on for the bench (loopback peers, a relay block of its own, quotas out of the way), plus `extra`. */
export async function startOursTurn(extra: Options, profile?: { dir: string; name: string }, root?: string): Promise<TargetProcess & { turnPort: number }> {
  const ours = await startTarget('ours', {
    ...(profile ? { profile } : {}),
    ...(root ? { root } : {}),
    ourOptions: {
      turnPort: 0,
      turnIp: '127.0.0.1',
      allowLoopbackPeers: true,
      relayPorts: relayBlock(0),
      turnMaxAllocationsPerUser: 10_000,
      turnMaxAllocations: 10_000,
      ...extra,
    },
  });
  const turnPort = ours.turnPort;
  if (turnPort === null) {
    await ours.stop();
    throw new Error('our server started without a TURN listener');
  }
  return Object.assign(ours, { turnPort });
}

async function oneRun(
  config: BenchConfig,
  workers: LoadWorker[],
  pool: WorkerPool,
  peer: UdpProcess,
  target: TurnTargetKind,
  roundNo: number,
  result: TurnResult,
): Promise<TurnRun> {
  const t = config.turn;
  const run: TurnRun = {
    target,
    round: roundNo,
    sessions: 0,
    failedSessions: 0,
    windowS: 0,
    sent: 0,
    echoed: 0,
    relayedPerS: 0,
    p50Ms: null,
    p99Ms: null,
    maxMs: null,
    lost: 0,
    indications: 0,
    serverCpuS: null,
    serverCpuPct: null,
    serverSysPct: null,
    pktsPerCpuS: null,
    generatorCpuPct: null,
    otherCpuPct: null,
    loadWindowUs: null,
    error: null,
  };
  let server: TurnServerRef | null = null;
  try {
    if (target === 'ours') {
      const profile = config.profile ? { dir: config.profile.dir, name: `turn-ours-r${roundNo}` } : undefined;
      const ours = await startOursTurn({}, profile);
      server = { port: ours.turnPort, pid: ours.pid, cpuSeconds: () => ours.cpuSeconds(), stop: () => ours.stop() };
    } else if (target === 'bare') {
      const profile = config.profile ? { dir: config.profile.dir, name: `turn-bare-r${roundNo}` } : undefined;
      const bare = await startTarget('bare', { script: 'bare-turn.ts', ...(profile ? { profile } : {}) });
      server = { port: bare.turnPort!, pid: bare.pid, cpuSeconds: () => bare.cpuSeconds(), stop: () => bare.stop() };
    } else {
      const coturn = await startCoturn({ user: TURN_USER, password: BENCH_PASSWORD, realm: TURN_REALM, relayPorts: relayBlock(1) });
      result.coturn = coturn.command;
      server = coturn;
    }
    const opened = await openSessions(workers, t, server.port, peer);
    run.sessions = opened.sessions;
    run.failedSessions = opened.failed;
    const fromUs = await startTurnLoad(opened.active, t.window);
    await sleep(t.warmupMs);
    Object.assign(run, await measureTurn(opened.active, server, [...pool.pids(), peer.pid], t.measureMs));
    await stopTurnLoad(opened.active);
    run.loadWindowUs = { fromUs, toUs: nowUs() };
    if (run.echoed === 0) throw new Error(`nothing came back through ${target} (sent ${run.sent}, ${run.indications} Data indications; first setup error: ${opened.firstError ?? 'none'})`);
  } catch (err) {
    run.error = errorText(err);
  } finally {
    await tearDown(workers, server);
  }
  return run;
}


// ---------------------------------------------------------------- TURN over TCP and TLS

/** A certificate for 127.0.0.1 (the client does not check it: both servers get the same). */
function benchCertificate(dir: string): { certfile: string; keyfile: string } {
  const certfile = join(dir, 'cert.pem');
  const keyfile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', keyfile, '-out', certfile], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  return { certfile, keyfile };
}

interface StreamServer {
  tcpPort: number;
  tlsPort: number;
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

async function startOursStreams(cert: { certfile: string; keyfile: string }): Promise<StreamServer> {
  const tlsPort = await freePort();
  const ours = await startOursTurn({ turnTcp: true, turnTlsPort: tlsPort, ...cert });
  return { tcpPort: ours.turnPort, tlsPort, cpuSeconds: () => ours.cpuSeconds(), stop: () => ours.stop() };
}

/** coturn with TCP and TLS on (startCoturn turns them off for the UDP runs), the same certificate. */
async function startCoturnStreams(cert: { certfile: string; keyfile: string }, dir: string): Promise<StreamServer> {
  if (!COTURN_BIN) throw new Error('coturn is not installed');
  const tcpPort = await freePort();
  const tlsPort = await freePort();
  const [lo, hi] = relayBlock(1);
  const child = spawn(COTURN_BIN, [
    '-n', '--listening-ip=127.0.0.1', `--listening-port=${tcpPort}`, `--tls-listening-port=${tlsPort}`, '--relay-ip=127.0.0.1',
    `--min-port=${lo}`, `--max-port=${hi}`, '--lt-cred-mech', `--user=${TURN_USER}:${BENCH_PASSWORD}`, `--realm=${TURN_REALM}`,
    '--allow-loopback-peers', `--cert=${cert.certfile}`, `--pkey=${cert.keyfile}`, '--no-dtls', '--no-tcp-relay', '--no-rfc5780', '--no-cli',
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--db=${join(dir, 'turndb')}`, '--log-file=stdout', '--simple-log',
  ], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const exited = await Promise.race([new Promise<boolean>((r) => child.once('exit', () => r(true))), sleep(5_000).then(() => false)]);
    if (!exited) child.kill('SIGKILL');
  };
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await Promise.all([tcpPort, tlsPort].map((port) => new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    })));
    if (up.every(Boolean)) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('coturn did not listen on TCP and TLS within 10 s');
    }
    await sleep(100);
  }
  return { tcpPort, tlsPort, cpuSeconds: () => procCpuSeconds(child.pid!), stop };
}

/** One client process against `server` over `transport`; the server's CPU over the client's measured window. */
async function streamRun(config: BenchConfig, server: StreamServer, transport: StreamTransport, peer: UdpProcess, run: TurnStreamRun): Promise<void> {
  const t = config.turn;
  const clientConfig: StreamClientConfig = {
    host: '127.0.0.1',
    port: transport === 'tcp' ? server.tcpPort : server.tlsPort,
    transport,
    peer: { host: '127.0.0.1', port: peer.port },
    user: TURN_USER,
    password: BENCH_PASSWORD,
    sessions: t.sessions,
    window: t.window,
    payloadBytes: t.payloadBytes,
    warmupMs: t.warmupMs,
    measureMs: t.measureMs,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'load', 'turn-stream-client.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_STREAM: JSON.stringify(clientConfig) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let cpu0: number | null = null;
  let t0 = 0;
  const limit = setTimeout(() => child.kill('SIGKILL'), 30_000 + t.warmupMs + t.measureMs);
  try {
    for await (const line of createInterface({ input: child.stdout! })) {
      const message = JSON.parse(line) as { phase: 'measure' } | StreamClientStats;
      if (message.phase === 'measure') {
        cpu0 = server.cpuSeconds();
        t0 = performance.now();
        continue;
      }
      const cpu1 = server.cpuSeconds();
      const seconds = (performance.now() - t0) / 1000;
      run.sessions = message.sessions;
      run.failedSessions = message.failed;
      run.windowS = round(message.windowMs / 1000, 3);
      run.relayedPerS = round((2 * message.received) / (message.windowMs / 1000), 0);
      run.serverCpuS = cpu0 !== null && cpu1 !== null ? round(cpu1 - cpu0, 3) : null;
      run.serverCpuPct = run.serverCpuS === null ? null : round((100 * run.serverCpuS) / seconds, 0);
      run.pktsPerCpuS = run.serverCpuS ? round((2 * message.received) / run.serverCpuS, 0) : null;
      if (message.received === 0) throw new Error(`nothing came back (${message.sessions} sessions, first error: ${message.firstError ?? 'none'})`);
    }
    if (run.windowS === 0) throw new Error('the stream client gave no figures');
  } finally {
    clearTimeout(limit);
    child.kill('SIGKILL');
  }
}

async function runStreams(config: BenchConfig, peer: UdpProcess, withCoturn: boolean, out: TurnStreamResult): Promise<void> {
  const log = config.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'bench-turn-streams-'));
  try {
    const cert = benchCertificate(dir);
    const targets: ('ours' | 'coturn')[] = withCoturn ? ['ours', 'coturn'] : ['ours'];
    for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
      for (const target of targets) {
        // one server per target and round, measured over each transport in turn
        let server: StreamServer | null = null;
        let failed: string | null = null;
        try {
          server = target === 'ours' ? await startOursStreams(cert) : await startCoturnStreams(cert, dir);
        } catch (err) {
          failed = errorText(err);
        }
        for (const transport of ['tcp', 'tls'] as const) {
          log(`turn over ${transport} round ${roundNo + 1}/${config.rounds}: ${target}`);
          const run: TurnStreamRun = {
            transport, target, round: roundNo, sessions: 0, failedSessions: 0, windowS: 0, relayedPerS: 0, serverCpuS: null, serverCpuPct: null, pktsPerCpuS: null, error: failed,
          };
          try {
            if (server) await streamRun(config, server, transport, peer, run);
            log(`  ${run.relayedPerS} relayed pkt/s, ${run.pktsPerCpuS ?? '?'} per CPU-s (${run.serverCpuPct ?? '?'}% CPU)`);
          } catch (err) {
            run.error = errorText(err);
            log(`  failed: ${run.error}`);
          }
          out.runs.push(run);
        }
        await server?.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const transport of ['tcp', 'tls'] as const) {
    const throughput: number[] = [];
    for (let roundNo = 0; roundNo < config.rounds; roundNo++) {
      const find = (target: 'ours' | 'coturn') => out.runs.find((r) => r.transport === transport && r.round === roundNo && r.target === target && !r.error);
      const a = find('ours');
      const b = find('coturn');
      if (!a || !b) continue;
      if (a.pktsPerCpuS && b.pktsPerCpuS) out.efficiencyRatios[transport].push(round(a.pktsPerCpuS / b.pktsPerCpuS, 3));
      if (b.relayedPerS > 0) throughput.push(round(a.relayedPerS / b.relayedPerS, 3));
    }
    const m = median(out.efficiencyRatios[transport]);
    out.efficiencyRatio[transport] = m === null ? null : round(m, 3);
    const mt = median(throughput);
    out.throughputRatio[transport] = mt === null ? null : round(mt, 3);
  }
}

/** The report's lines for TURN over TCP and TLS. */
export function formatTurnStreams(streams: TurnStreamResult, table: (header: string[], rows: (string | number | null)[][]) => string): string[] {
  if (streams.runs.length === 0) return [];
  const ratio = (v: number | null) => (v === null ? '-' : v.toFixed(2));
  return [
    `   TURN over TCP and TLS (one connection per session, same client for both): ours / coturn pkts per CPU-s: TCP ${ratio(streams.efficiencyRatio.tcp)}, TLS ${ratio(streams.efficiencyRatio.tls)}; relayed pkt/s: TCP ${ratio(streams.throughputRatio.tcp)}, TLS ${ratio(streams.throughputRatio.tls)}`,
    table(
      ['transport', 'target', 'rnd', 'sessions', 'relayed pkt/s', 'srv CPU%', 'pkts/CPU-s'],
      streams.runs.map((r) =>
        r.error
          ? [r.transport, r.target, r.round + 1, 'error', r.error.slice(0, 70), null, null]
          : [r.transport, r.target, r.round + 1, r.sessions, r.relayedPerS, r.serverCpuPct, r.pktsPerCpuS],
      ),
    ),
  ];
}
