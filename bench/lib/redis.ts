/**
 * A redis-server of the bench's own (Debian package `redis-server`) for the
 * cluster suite: 127.0.0.1, a free port, no persistence (`--save ''
 * --appendonly no`), its working folder a temporary one; tracked like every
 * child of the run (killAll stops it by pid), stopped with bounded waits.
 * `command()` speaks just enough RESP for `INFO` and `DBSIZE`, on a
 * connection of its own, bounded in time: the orchestrator holds no Redis
 * client between readings.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, procCpuSeconds, procRssKiB, stopChild, tail, track } from './procs.js';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** Null when redis-server can run here, else why not. */
export function redisUnavailable(): string | null {
  return existsSync(REDIS_SERVER_BIN) ? null : `redis-server not installed at ${REDIS_SERVER_BIN} (Debian package redis-server)`;
}

export interface RedisServer {
  readonly pid: number;
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** What runs (for the report). */
  readonly commandLine: string;
  cpuSeconds(): number | null;
  rssKiB(): number | null;
  /** One command, its reply as text (bulk/simple string, integer); rejects on an error reply or after `timeoutMs`. */
  command(args: string[], timeoutMs?: number): Promise<string>;
  /** `INFO <section>` as key → value. */
  info(section: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const why = redisUnavailable();
  if (why) throw new Error(why);
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir, '--loglevel', 'warning'];
  const child = track(spawn(REDIS_SERVER_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = tail(child);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const pid = child.pid!;
  const server: RedisServer = {
    pid,
    port,
    url: `redis://127.0.0.1:${port}`,
    commandLine: `redis-server ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`,
    cpuSeconds: () => procCpuSeconds(pid),
    rssKiB: () => procRssKiB(pid),
    command: (argv, timeoutMs = 5_000) => respCommand(port, argv, timeoutMs),
    async info(section) {
      const text = await respCommand(port, ['INFO', section], 5_000);
      const out: Record<string, string> = {};
      for (const line of text.split('\r\n')) {
        const at = line.indexOf(':');
        if (at > 0 && !line.startsWith('#')) out[line.slice(0, at)] = line.slice(at + 1);
      }
      return out;
    },
    stop: () => stopChild(child, cleanup),
  };
  // Ready once it answers PING (bounded: 10 s).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      cleanup();
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) while starting: ${output()}`);
    }
    try {
      if ((await respCommand(port, ['PING'], 1_000)) === 'PONG') return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`redis-server did not answer PING within 10 s: ${output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends one command in RESP and reads one reply (bulk string, simple string, integer; arrays are not needed here). */
function respCommand(port: number, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const finish = (err: Error | null, value?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (err) => finish(err));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const eol = data.indexOf('\r\n');
      if (eol < 0) return;
      const head = data.toString('utf8', 1, eol);
      switch (data[0]) {
        case 0x2b /* + */:
        case 0x3a /* : */:
          return finish(null, head);
        case 0x2d /* - */:
          return finish(new Error(`redis ${args[0]}: ${head}`));
        case 0x24 /* $ */: {
          const len = Number(head);
          if (len < 0) return finish(null, '');
          if (data.length < eol + 2 + len) return;
          return finish(null, data.toString('utf8', eol + 2, eol + 2 + len));
        }
        default:
          return finish(new Error(`redis ${args[0]}: unexpected reply ${JSON.stringify(data.toString('utf8', 0, Math.min(40, data.length)))}`));
      }
    });
    socket.once('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
      socket.write(parts.join(''));
    });
  });
}
