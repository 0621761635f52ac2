/**
 * A real redis-server (Debian package `redis-server`) for cluster tests, on
 * 127.0.0.1 and a free port, without persistence; it can be stopped and
 * started again on the same port (Redis going away mid-call). Tests skip
 * with a clear reason where it is not installed, except in CI, where
 * .ci/run installs it and a missing server must fail the run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { freePort } from './fixtures.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER) || process.env.CI === 'true';
}

export const redisSkip = redisAvailable() ? false : `redis-server not installed at ${REDIS_SERVER} (Debian package redis-server)`;

export interface RedisStart {
  /** Serve TLS only, with this certificate and key (`rediss://`). */
  tls?: { certfile: string; keyfile: string };
  /** Run as a Sentinel with this config file (written by the caller). */
  sentinelConfig?: string;
}

export class RedisProcess {
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly how: RedisStart,
  ) {}

  static async start(t: TestContext, how: RedisStart = {}): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort(), how);
    await redis.start();
    t.after(() => redis.stop());
    return redis;
  }

  get url(): string {
    return `${this.how.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port; resolves once it accepts connections (bounded: 10 s). */
  async start(): Promise<void> {
    const { tls, sentinelConfig } = this.how;
    const args = sentinelConfig
      ? [sentinelConfig, '--sentinel', '--port', String(this.port), '--bind', '127.0.0.1']
      : ['--port', tls ? '0' : String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
    if (tls) args.push('--tls-port', String(this.port), '--tls-cert-file', tls.certfile, '--tls-key-file', tls.keyfile, '--tls-auth-clients', 'no');
    const proc = spawn(REDIS_SERVER, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections') || out.includes('Sentinel ID is')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
  }

  /** Stops it (SIGKILL: Redis gone at once); resolves once the process is gone. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }
}
