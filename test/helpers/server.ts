/** Starting servers for tests: port 0, 127.0.0.1, TURN off, quiet logs. */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { startServer } from '../../src/index.js';
import type { Options, ServerHandle } from '../../src/index.js';

export const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } as const;

/** A logger that writes nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A logger that keeps every line, for tests that look at logs. */
export function memoryLogger(level: pino.Level = 'debug'): { logger: Logger; lines: () => any[] } {
  const chunks: string[] = [];
  const logger = pino({ level }, { write: (s: string) => void chunks.push(s) });
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

export async function testServer(options: Options = {}, logger?: Logger): Promise<ServerHandle & { port: number }> {
  const server = await startServer(
    { host: '127.0.0.1', port: 0, turnPort: false, logLevel: 'silent', auth: { users: { ...USERS } }, ...options },
    logger ? { logger } : {},
  );
  return Object.assign(server, { port: server.signalingAddress()!.port });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
