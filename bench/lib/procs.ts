/**
 * Processes of a bench run: the target servers and the load generators,
 * each spawned with bounded waits and stopped by its own pid; and what
 * /proc tells about them (CPU seconds, RSS) and about the machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket as createUdpSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect as tcpConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UsageReply } from '../targets/ipc.js';
import type { Envelope, WorkerReply, WorkerRequest } from '../load/messages.js';
import type { TargetKind } from './protocols.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = ['--import', 'tsx'];

export const TARGET_LABELS: Record<TargetKind, string> = {
  ours: 'webrtc-server (ours)',
  bare: 'bare ws relay',
  'bare-protocol': 'bare ws relay speaking the protocol (authenticate, joined, left)',
  'y-webrtc': 'y-webrtc signaling',
  peerjs: 'PeerJS server',
};

const TARGET_SCRIPTS = { ours: 'ours.ts', bare: 'bare-relay.ts', 'bare-protocol': 'bare-protocol-relay.ts' } as const;

const COMPETITOR_BINS: Partial<Record<TargetKind, { pkg: string; bin: string }>> = {
  'y-webrtc': { pkg: 'y-webrtc', bin: 'bin/server.js' },
  peerjs: { pkg: 'peer', bin: 'dist/bin/peerjs.js' },
};

/** Null when the target can run here, else why not. */
export function unavailable(kind: TargetKind): string | null {
  const competitor = COMPETITOR_BINS[kind];
  if (!competitor) return null;
  const bin = join(ROOT, 'node_modules', competitor.pkg, competitor.bin);
  if (!existsSync(bin)) return `npm package \`${competitor.pkg}\` is not installed (it is a devDependency: run \`npm install\`)`;
  if (kind === 'y-webrtc' && !existsSync(join(ROOT, 'node_modules', 'ws'))) return 'y-webrtc needs its optional dependency `ws`';
  return null;
}

// ---------------------------------------------------------------- /proc

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process, in seconds (10 ms resolution); null off Linux or once it is gone. */
export function procCpuSeconds(pid: number): number | null {
  const split = procCpuSplit(pid);
  return split && split.user + split.system;
}

/** utime and stime of a process (all its threads), in seconds; null off Linux or once it is gone. */
export function procCpuSplit(pid: number): { user: number; system: number } | null {
  try {
    return statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** utime and stime (seconds) of a /proc stat line. */
function statCpu(stat: string): { user: number; system: number } {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime 15.
  return { user: Number(fields[11]) / ticksPerSecond(), system: Number(fields[12]) / ticksPerSecond() };
}

/**
 * CPU seconds (utime + stime) of each thread of a process by thread id, with the thread's name
 * (`turn_relay_1`, `MainThread`, coturn's `turnserver`…); null off Linux or once it is gone.
 */
export function procThreadCpu(pid: number): Map<number, { name: string; cpuS: number }> | null {
  try {
    const out = new Map<number, { name: string; cpuS: number }>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const { user, system } = statCpu(stat);
        out.set(Number(tid), { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpuS: user + system });
      } catch {
        // the thread ended meanwhile
      }
    }
    return out;
  } catch {
    return null;
  }
}

export function procRssKiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Read- and write-type system calls a process made so far (`syscr`, `syscw` of /proc/<pid>/io: read(v), write(v) on sockets too); null off Linux or once it is gone. */
export function procSyscalls(pid: number): { reads: number; writes: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const reads = /^syscr:\s+(\d+)/m.exec(text);
    const writes = /^syscw:\s+(\d+)/m.exec(text);
    return reads && writes ? { reads: Number(reads[1]), writes: Number(writes[1]) } : null;
  } catch {
    return null;
  }
}

/** Busy and total CPU seconds of the whole machine, all cores. */
export function machineCpu(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / ticksPerSecond(), total: total / ticksPerSecond() };
  } catch {
    return null;
  }
}

/** The soft and hard open-file limits this process (and so its children) has. */
export function fileLimits(): { soft: number; hard: number } | null {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
    if (!match) return null;
    const n = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(match[1]!), hard: n(match[2]!) };
  } catch {
    return null;
  }
}

/** Raises a child's soft open-file limit to its hard limit (util-linux prlimit); false if it could not. */
export function raiseFileLimit(pid: number): boolean {
  const limits = fileLimits();
  if (!limits || limits.soft >= limits.hard) return true;
  try {
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${limits.hard}:${limits.hard}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- ports

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`not listening on ${port} after ${timeoutMs} ms`);
}

/** Every child this process started and that is still running: killed by pid if the run is abandoned. */
const live = new Set<ChildProcess>();
/** Registers a child started elsewhere in bench/ (redis-server) so that killAll() stops it too. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every child still running (each by its own pid). */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** SIGTERM, then SIGKILL after 5 s (bounded waits); `cleanup` runs whatever happened. */
export async function stopChild(child: ChildProcess, cleanup: () => void): Promise<void> {
  try {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5_000))) {
        child.kill('SIGKILL');
        await waitExit(child, 2_000);
      }
    }
  } finally {
    cleanup();
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Keeps the last few KiB a child wrote, for error messages. */
export function tail(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim();
}

// ---------------------------------------------------------------- targets

export interface TargetProcess {
  readonly kind: TargetKind;
  readonly pid: number;
  readonly port: number;
  /** `ws://127.0.0.1:PORT` */
  readonly base: string;
  /** Our server's STUN/TURN UDP port when its TURN is on; else null. */
  readonly turnPort: number | null;
  /** The loopback metrics listener's port (the soak target); else null. */
  readonly metricsPort: number | null;
  /** Sends `message` over IPC and resolves with the first reply whose `op` is `replyOp`; null after `timeoutMs` or without IPC. */
  ask<T extends { op: string }>(message: { op: string } & Record<string, unknown>, replyOp: string, timeoutMs?: number): Promise<T | null>;
  /** The server's own view of its CPU and memory (our wrappers only). */
  usage(gc?: boolean): Promise<UsageReply | null>;
  cpuSeconds(): number | null;
  rssKiB(): number | null;
  /** Stops gracefully (profiles are written then), killing it after a deadline. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run under `node --cpu-prof`, writing its profiles into `<dir>/<name>/` (ours, bare). */
  profile?: { dir: string; name: string };
  exposeGc?: boolean;
  /** `--expose-internals` (the soak target counts unref'd timers through internal/timers). */
  exposeInternals?: boolean;
  /** Extra options for our server (BENCH_OPTIONS). */
  ourOptions?: Record<string, unknown>;
  /** Another server of bench/targets/ speaking the same IPC (`bare-turn.ts`: the Node TURN baseline). */
  script?: string;
  /** Another checkout to run our server from (bench/turn-ab.ts: a baseline tree against this one); default this tree. */
  root?: string;
}

export async function startTarget(kind: TargetKind, options: StartOptions = {}): Promise<TargetProcess> {
  const why = unavailable(kind);
  if (why) throw new Error(why);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  for (const key of Object.keys(env)) if (key.startsWith('WEBRTC_SERVER_')) delete env[key];
  let child: ChildProcess;
  let port: number;
  let turnPort: number | null = null;
  let metricsPort: number | null = null;
  if (kind === 'ours' || kind === 'bare' || kind === 'bare-protocol') {
    const flags = [...(options.exposeGc ? ['--expose-gc'] : []), ...(options.exposeInternals ? ['--expose-internals'] : [])];
    // One folder per run: tsx's module hooks run on a thread of their own, which writes a profile too.
    if (options.profile) flags.push('--cpu-prof', `--cpu-prof-dir=${join(options.profile.dir, options.profile.name)}`);
    const root = options.root ?? ROOT;
    const file = join(root, 'bench', 'targets', options.script ?? TARGET_SCRIPTS[kind]);
    child = track(
      spawn(process.execPath, [...flags, ...TSX, file], {
        cwd: root,
        env: { ...env, BENCH_OPTIONS: JSON.stringify(options.ourOptions ?? {}) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    const output = tail(child);
    raiseFileLimit(child.pid!);
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} did not start within 30 s: ${output()}`)), 30_000);
      child.on('message', (m: { op?: string; port?: number; turnPort?: number | null; metricsPort?: number | null }) => {
        if (m.op === 'listening') {
          clearTimeout(timer);
          turnPort = m.turnPort ?? null;
          metricsPort = m.metricsPort ?? null;
          resolve(m.port!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${kind} exited with ${code} while starting: ${output()}`));
      });
    });
  } else {
    const competitor = COMPETITOR_BINS[kind]!;
    const bin = join(ROOT, 'node_modules', competitor.pkg, competitor.bin);
    port = await freePort();
    // As they ship: y-webrtc reads PORT and binds every interface; PeerJS takes --port/--host.
    const args = kind === 'peerjs' ? [bin, '--port', String(port), '--host', '127.0.0.1'] : [bin];
    child = track(spawn(process.execPath, args, { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const output = tail(child);
    raiseFileLimit(child.pid!);
    try {
      await waitForPort(port, 20_000, child);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${kind}: ${(err as Error).message}: ${output()}`);
    }
  }
  const pid = child.pid!;
  const ask = <T extends { op: string }>(message: { op: string } & Record<string, unknown>, replyOp: string, timeoutMs = 5_000): Promise<T | null> => {
    if (!child.connected) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        resolve(null);
      }, timeoutMs);
      const onMessage = (m: T) => {
        if (m.op !== replyOp) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      child.send(message);
    });
  };
  const usage = (gc = false): Promise<UsageReply | null> => ask<UsageReply>({ op: 'usage', gc }, 'usage');
  return {
    kind,
    pid,
    port,
    base: `ws://127.0.0.1:${port}`,
    turnPort,
    metricsPort,
    ask,
    usage,
    cpuSeconds: () => procCpuSeconds(pid),
    rssKiB: () => procRssKiB(pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ op: 'stop' });
      else child.kill('SIGTERM');
      if (await waitExit(child, 8_000)) return;
      child.kill('SIGKILL');
      await waitExit(child, 2_000);
    },
  };
}

// ---------------------------------------------------------------- load generators

export class LoadWorker {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly ready: Promise<void>;
  private readonly output: () => string;

  constructor(readonly index: number) {
    this.child = track(
      spawn(process.execPath, [...TSX, join(ROOT, 'bench', 'load', 'worker.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    this.output = tail(this.child);
    raiseFileLimit(this.child.pid!);
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load worker ${index} did not start: ${this.output()}`)), 30_000);
      this.pending.set(0, { resolve: () => resolve(), reject, timer });
    });
    this.child.on('message', (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      clearTimeout(waiter.timer);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`load worker ${index}: ${reply.error}`));
    });
    this.child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`load worker ${index} exited (${code ?? signal}): ${this.output()}`));
      }
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(request: WorkerRequest, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load worker ${this.index}: ${request.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ ...request, id } satisfies Envelope);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.disconnect();
    if (await waitExit(this.child, 3_000)) return;
    this.child.kill('SIGKILL');
    await waitExit(this.child, 2_000);
  }
}

/** A pool of load generators that grows on demand and is stopped once. */
export class WorkerPool {
  private readonly workers: LoadWorker[] = [];

  async get(n: number): Promise<LoadWorker[]> {
    while (this.workers.length < n) this.workers.push(new LoadWorker(this.workers.length));
    const some = this.workers.slice(0, n);
    await Promise.all(some.map((w) => w.ready));
    return some;
  }

  pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers.length = 0;
  }
}

/** Source addresses 127.0.0.x spread the client sockets' ephemeral ports. */
export function localAddresses(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

// ---------------------------------------------------------------- TURN baselines (coturn, the UDP echo peer)

export const COTURN_BIN = ['/usr/bin/turnserver', '/usr/local/bin/turnserver'].find((p) => existsSync(p)) ?? null;
const PEER_BIN = ['/usr/bin/turnutils_peer', '/usr/local/bin/turnutils_peer'].find((p) => existsSync(p)) ?? null;

/** A UDP port free right now on 127.0.0.1 (bound to 0, then released). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createUdpSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * Sends `probe` to 127.0.0.1:port every 100 ms until something answers
 * (an echo, a STUN response), the child exits or `timeoutMs` passes.
 */
async function waitForUdp(port: number, probe: Buffer, timeoutMs: number, child: ChildProcess): Promise<void> {
  const socket = createUdpSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout;
      const attempt = () => {
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before answering`));
        if (Date.now() > deadline) return reject(new Error(`no answer on udp ${port} after ${timeoutMs} ms`));
        socket.send(probe, port, '127.0.0.1');
        timer = setTimeout(attempt, 100);
      };
      socket.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('error', () => {}); // ICMP port unreachable before the child listens
      socket.bind(0, '127.0.0.1', attempt);
    });
  } finally {
    socket.close();
  }
}

/** A STUN Binding request (RFC 5389): what a TURN server answers without credentials. */
function stunBindingRequest(): Buffer {
  const out = Buffer.alloc(20);
  out.writeUInt16BE(0x0001, 0);
  out.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(out, 8);
  return out;
}

/** A process started here for the TURN suite: coturn, or the echo peer. */
export interface UdpProcess {
  readonly pid: number;
  readonly port: number;
  /** What runs (for the report). */
  readonly command: string;
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

function udpProcess(child: ChildProcess, port: number, command: string, cleanup: () => void): UdpProcess {
  const pid = child.pid!;
  return {
    pid,
    port,
    command,
    cpuSeconds: () => procCpuSeconds(pid),
    stop: () => stopChild(child, cleanup),
  };
}

export interface CoturnOptions {
  user: string;
  password: string;
  realm: string;
  relayPorts: readonly [number, number];
  /** `--relay-threads` (null or absent: coturn's default, one per CPU). */
  relayThreads?: number | null;
}

/**
 * coturn's `turnserver` on 127.0.0.1 and a free UDP port, from the command
 * line only (`-n`: no /etc/turnserver.conf), with its pid file and user
 * database in a temporary folder: never 3478, never the system's coturn.
 */
export async function startCoturn(options: CoturnOptions): Promise<UdpProcess> {
  if (!COTURN_BIN) throw new Error('coturn is not installed (no turnserver in /usr/bin or /usr/local/bin)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-coturn-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const port = await freeUdpPort();
  const args = [
    '-n',
    '--listening-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--relay-ip=127.0.0.1',
    `--min-port=${options.relayPorts[0]}`,
    `--max-port=${options.relayPorts[1]}`,
    '--lt-cred-mech',
    `--user=${options.user}:${options.password}`,
    `--realm=${options.realm}`,
    '--allow-loopback-peers',
    '--no-tls',
    '--no-dtls',
    '--no-tcp',
    '--no-tcp-relay',
    '--no-rfc5780',
    '--no-cli',
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--db=${join(dir, 'turndb')}`,
    '--log-file=stdout',
    '--simple-log',
    ...(options.relayThreads != null ? [`--relay-threads=${options.relayThreads}`] : []),
  ];
  const child = track(spawn(COTURN_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = tail(child);
  try {
    await waitForUdp(port, stunBindingRequest(), 10_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    cleanup();
    throw new Error(`coturn: ${(err as Error).message}: ${output()}`);
  }
  return udpProcess(child, port, `turnserver ${args.join(' ')}`, cleanup);
}

/**
 * The TURN peer: a UDP echo on 127.0.0.1 (coturn's C `turnutils_peer` when
 * installed, so that the peer costs little; else a Node echo).
 */
export async function startEchoPeer(): Promise<UdpProcess> {
  const port = await freeUdpPort();
  const [file, args] = PEER_BIN
    ? [PEER_BIN, ['-L', '127.0.0.1', '-p', String(port)]]
    : [process.execPath, [...TSX, join(ROOT, 'bench', 'targets', 'udp-echo.ts'), String(port)]];
  // The Node echo exits when its stdin (this process) goes away.
  const child = track(spawn(file, args, { cwd: ROOT, stdio: [PEER_BIN ? 'ignore' : 'pipe', 'pipe', 'pipe'] }));
  const output = tail(child);
  try {
    await waitForUdp(port, Buffer.from('ping'), 20_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`echo peer: ${(err as Error).message}: ${output()}`);
  }
  return udpProcess(child, port, `${file === process.execPath ? 'node bench/targets/udp-echo.ts' : file} ${args.slice(-4).join(' ')}`, () => {});
}
