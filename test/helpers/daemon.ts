/**
 * Spawning the built daemon (`node dist/src/cli.js`) for tests: its stdout
 * is read as pino JSON lines, its stderr kept as text. Every wait is bounded
 * and every spawned process is killed after the test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = resolve(ROOT, 'dist/src/cli.js');

export interface DaemonOptions {
  /** Extra environment variables (WEBRTC_SERVER_* from the test's own environment are removed). */
  env?: Record<string, string>;
  /** Working folder (default: the package root). */
  cwd?: string;
  /** An executable to run instead of `node dist/src/cli.js` (e.g. an installed package's bin). */
  bin?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A log line: pino's JSON, or `{ raw }` for a line that is not JSON. */
export type LogLine = Record<string, any>;

export class Daemon {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  private pending = '';
  private readonly watchers = new Set<() => void>();

  constructor(args: string[], options: DaemonOptions = {}) {
    if (!options.bin && !existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('WEBRTC_SERVER_')) env[key] = value;
    }
    Object.assign(env, options.env ?? {});
    const [file, argv] = options.bin ? [options.bin, args] : [process.execPath, [CLI, ...args]];
    this.proc = spawn(file, argv, { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stdout!.on('data', (chunk: string) => this.onStdout(chunk));
    this.proc.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolveExit) => {
      this.proc.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolveExit(this.exit);
        this.notify();
      });
    });
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).trim();
      this.pending = this.pending.slice(nl + 1);
      if (!line) continue;
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ raw: line });
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** The first log line matching `match`; rejects if the process exits first or after `ms`. */
  waitForLine(match: (line: LogLine) => boolean, ms = 30_000, what = 'a log line'): Promise<LogLine> {
    return new Promise((resolveLine, reject) => {
      const check = () => {
        const found = this.lines.find(match);
        if (found) return done(() => resolveLine(found));
        if (this.exit) return done(() => reject(new Error(`daemon exited (${JSON.stringify(this.exit)}) before ${what}\n${this.describe()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${ms} ms\n${this.describe()}`))), ms);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        settle();
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Waits for the process to exit; kills it and rejects after `ms`. */
  async waitForExit(ms = 30_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        reject(new Error(`daemon did not exit within ${ms} ms\n${this.describe()}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process if it still runs, and waits (bounded) for it to go. */
  async kill(): Promise<void> {
    if (this.exit) return;
    this.proc.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  describe(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }
}

/** Spawns the daemon and kills it after the test. */
export function spawnDaemon(t: TestContext, args: string[], options: DaemonOptions = {}): Daemon {
  const daemon = new Daemon(args, options);
  t.after(() => daemon.kill());
  return daemon;
}

/** Spawns the daemon and waits for its "signaling listening" line. */
export async function startDaemon(
  t: TestContext,
  args: string[],
  options: DaemonOptions = {},
): Promise<{ daemon: Daemon; port: number; listening: LogLine }> {
  const daemon = spawnDaemon(t, args, options);
  const listening = await daemon.waitForLine((l) => l.msg === 'signaling listening', 30_000, '"signaling listening" line');
  return { daemon, port: listening.port as number, listening };
}

/** Runs the daemon expecting it to exit on its own (e.g. invalid configuration). */
export async function runDaemonToExit(t: TestContext, args: string[], options: DaemonOptions = {}): Promise<Exit & { daemon: Daemon }> {
  const daemon = spawnDaemon(t, args, options);
  const exit = await daemon.waitForExit(30_000);
  return { ...exit, daemon };
}

/** The daemon's "signaling listening" lines. */
export function listeningLines(daemon: Daemon): LogLine[] {
  return daemon.lines.filter((l) => l.msg === 'signaling listening');
}

/** Asserts the daemon refused its configuration: exit code 2, stderr naming `option`, never listening. */
export async function assertRefused(t: TestContext, args: string[], option: string, env: Record<string, string> = {}, cwd?: string): Promise<Daemon> {
  const { code, signal, daemon } = await runDaemonToExit(t, args, { env, ...(cwd ? { cwd } : {}) });
  assert.equal(signal, null, daemon.describe());
  assert.equal(code, 2, daemon.describe());
  assert.match(daemon.stderr, new RegExp(`invalid option "${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`), daemon.describe());
  assert.equal(listeningLines(daemon).length, 0, daemon.describe());
  return daemon;
}
