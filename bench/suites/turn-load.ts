/**
 * The UDP TURN load both TURN suites drive (turn.ts: ours vs coturn vs the
 * bare relay; turn-cores.ts: relay threads 1 vs 2 vs coturn, and signaling
 * under that load): sessions opened over the load-generator processes
 * (bench/load/turn-client.ts), a closed loop of ChannelData packets, and one
 * measured window of it with the server's CPU (every thread of the process,
 * /proc/<pid>/stat) and the generators'.
 */
import { nowUs } from '../lib/hist.js';
import { procCpuSplit, sleep } from '../lib/procs.js';
import type { LoadWorker, UdpProcess } from '../lib/procs.js';
import { BENCH_PASSWORD } from '../lib/protocols.js';
import type { TurnLoadStats, TurnSetupResult } from '../load/messages.js';
import { cpuMeter, merge, round } from './common.js';

export const TURN_USER = 'bench';
export const TURN_REALM = 'bench';

/** A TURN server under test, whatever it is (ours, coturn, the bare relay). */
export interface TurnServerRef {
  port: number;
  pid: number;
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

/** What one measured window of the load gave. */
export interface TurnWindow {
  windowS: number;
  /** ChannelData packets the clients sent. */
  sent: number;
  /** Packets back at the clients, each relayed twice by the server. */
  echoed: number;
  /** Packets relayed by the server (2 × echoed) per second. */
  relayedPerS: number;
  /** Round trip client → server → peer → server → client. */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  lost: number;
  /** Data indications instead of ChannelData (the server ignored the channel). */
  indications: number;
  serverCpuS: number | null;
  /** Percent of one core (the server may use several). */
  serverCpuPct: number | null;
  /** Share of the server's CPU spent in the kernel (stime), percent: sending and receiving UDP. */
  serverSysPct: number | null;
  /** Relayed packets per server CPU-second. */
  pktsPerCpuS: number | null;
  /** Load generators and the echo peer, percent of one core. */
  generatorCpuPct: number | null;
  otherCpuPct: number | null;
}

export interface OpenedSessions {
  /** The workers that hold sessions. */
  active: LoadWorker[];
  sessions: number;
  failed: number;
  firstError: string | null;
}

/** Opens `sessions` sessions (allocation + channel to `peer`) on `server`, spread evenly over `workers`. */
export async function openSessions(
  workers: LoadWorker[],
  shape: { sessions: number; payloadBytes: number },
  serverPort: number,
  peer: UdpProcess,
): Promise<OpenedSessions> {
  const active = workers.slice(0, Math.max(1, Math.min(workers.length, shape.sessions)));
  const share = active.map((_, i) => Math.floor(shape.sessions / active.length) + (i < shape.sessions % active.length ? 1 : 0));
  const setups = await Promise.all(
    active.map((w, i) =>
      w.request<TurnSetupResult>(
        {
          op: 'turn-setup',
          server: { host: '127.0.0.1', port: serverPort },
          peer: { host: '127.0.0.1', port: peer.port },
          user: TURN_USER,
          password: BENCH_PASSWORD,
          sessions: share[i]!,
          firstIndex: share.slice(0, i).reduce((a, b) => a + b, 0),
          payloadBytes: shape.payloadBytes,
          timeoutMs: 10_000,
        },
        30_000,
      ),
    ),
  );
  return {
    active,
    sessions: setups.reduce((a, s) => a + s.sessions, 0),
    failed: setups.reduce((a, s) => a + s.failed, 0),
    firstError: setups.find((s) => s.firstError)?.firstError ?? null,
  };
}

/** Starts the closed loop (`window` packets in flight per session) on every active worker; resolves when it runs. */
export async function startTurnLoad(active: LoadWorker[], window: number): Promise<number> {
  const fromUs = nowUs();
  await Promise.all(active.map((w) => w.request({ op: 'turn-load', window })));
  return fromUs;
}

export async function stopTurnLoad(active: LoadWorker[]): Promise<void> {
  await Promise.all(active.map((w) => w.request({ op: 'turn-stop-load' })));
}

/** Measures `measureMs` of the running load: the clients' counts and the CPU of the server and of `generatorPids`. */
export async function measureTurn(active: LoadWorker[], server: TurnServerRef, generatorPids: number[], measureMs: number): Promise<TurnWindow> {
  await Promise.all(active.map((w) => w.request({ op: 'turn-measure-start' })));
  const meter = cpuMeter(server, generatorPids);
  const split0 = procCpuSplit(server.pid);
  await sleep(measureMs);
  const cpu = meter();
  const split1 = procCpuSplit(server.pid);
  const stats = await Promise.all(active.map((w) => w.request<TurnLoadStats>({ op: 'turn-measure-stop' })));
  const hist = merge(stats);
  const sum = (key: 'sent' | 'received' | 'lost' | 'indications') => stats.reduce((a, s) => a + s[key], 0);
  const windowS = stats.reduce((a, s) => a + s.windowMs, 0) / stats.length / 1000;
  const echoed = sum('received');
  let serverSysPct: number | null = null;
  if (split0 && split1) {
    const user = split1.user - split0.user;
    const system = split1.system - split0.system;
    serverSysPct = user + system > 0 ? round((100 * system) / (user + system), 0) : null;
  }
  return {
    windowS: round(windowS, 3),
    sent: sum('sent'),
    echoed,
    relayedPerS: round((2 * echoed) / windowS, 0),
    p50Ms: ms(hist.quantileMs(0.5)),
    p99Ms: ms(hist.quantileMs(0.99)),
    maxMs: ms(hist.total ? hist.maxUs / 1000 : null),
    lost: sum('lost'),
    indications: sum('indications'),
    serverCpuS: cpu.serverCpuS,
    serverCpuPct: cpu.serverCpuS === null ? null : round((100 * cpu.serverCpuS) / cpu.seconds, 0),
    serverSysPct,
    pktsPerCpuS: cpu.serverCpuS ? round((2 * echoed) / cpu.serverCpuS, 0) : null,
    generatorCpuPct: cpu.generatorCpuPct,
    otherCpuPct: cpu.otherCpuPct,
  };
}

export const ms = (v: number | null) => (v === null ? null : round(v, 2));
