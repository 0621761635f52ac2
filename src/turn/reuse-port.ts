/**
 * Whether this runtime can put UDP sockets in one SO_REUSEPORT group
 * (`dgram.createSocket({ reusePort: true })`, Node >= 22.12 / 23.1), found
 * out by trying: two sockets bound to one port on 127.0.0.1. Node 20 ignores
 * the option, so its second bind fails. Tried once per process. And how
 * many TURN relay threads the `turnThreads` option means here.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { ErrorCode, ServerError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { MAX_RELAY_THREADS } from './relay-thread-protocol.js';

let detected: Promise<boolean> | null = null;

function bind(port: number): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reusePort: true } as Parameters<typeof createSocket>[0]);
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: '127.0.0.1', port }, () => resolve(socket));
  });
}

async function tryReusePort(): Promise<boolean> {
  let first: Socket | null = null;
  try {
    first = await bind(0);
    const second = await bind(first.address().port);
    second.close();
    return true;
  } catch {
    return false;
  } finally {
    first?.close();
  }
}

export function reusePortAvailable(): Promise<boolean> {
  detected ??= tryReusePort();
  return detected;
}

/**
 * Relay threads to run: 0 with TURN off; "auto": one per core (`cores`), at
 * most MAX_RELAY_THREADS, where SO_REUSEPORT works, else 0 (logged once,
 * with why); a count that needs SO_REUSEPORT where it does not work is an
 * invalid option.
 */
export async function resolveTurnThreads(
  options: Pick<ResolvedOptions, 'turnPort' | 'turnThreads'>, logger: Logger, cores = availableParallelism(),
): Promise<number> {
  if (options.turnPort === false || options.turnThreads === 0) return 0;
  const available = await reusePortAvailable();
  if (options.turnThreads === 'auto') {
    if (available) return Math.min(cores, MAX_RELAY_THREADS);
    logger.info(
      { turnThreads: 0, node: process.version },
      `TURN relays on the main thread: Node ${process.version} cannot share a UDP port between threads (SO_REUSEPORT needs Node >= 22.12)`,
    );
    return 0;
  }
  if (!available) {
    throw new ServerError(
      ErrorCode.INVALID_OPTION,
      `invalid option "turnThreads": ${options.turnThreads} relay threads need SO_REUSEPORT for UDP, which Node ${process.version} lacks (Node >= 22.12); use 0 or "auto"`,
      { option: 'turnThreads' },
    );
  }
  return options.turnThreads;
}
