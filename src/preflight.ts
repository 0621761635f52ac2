/**
 * What the daemon checks after validating its options and before starting
 * anything (docs/configuration.md, "The daemon"): `certfile` and `keyfile`
 * can be read and hold a matching PEM certificate and private key, and every
 * fixed port it is about to bind (signaling, TURN's UDP port, `metricsPort`,
 * the inspector relay) is free. Each failure is a ServerError(INVALID_OPTION)
 * naming the option and its flag, so the daemon exits 2 before a listener
 * opens. A port can still be taken between this check and the real bind; the
 * start then fails as before (exit 1).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { envName, kebab } from './config.js';
import { ErrorCode, ServerError } from './errors.js';
import { DEFAULTS } from './options.js';
import type { OptionName, ResolvedOptions } from './options.js';
import { turnListenHost } from './turn/turn-listener.js';

/** One socket the daemon will bind, and the option that chose its port. */
export interface PlannedBind {
  option: OptionName;
  protocol: 'tcp' | 'udp';
  host: string;
  port: number;
}

function refuse(option: OptionName, message: string, cause?: unknown): never {
  throw new ServerError(ErrorCode.INVALID_OPTION, `invalid option "${option}" (--${kebab(option)}): ${message}`, { option, cause });
}

/** The sockets with a fixed port (port 0 is always free) that the daemon binds at start. */
export function plannedBinds(options: ResolvedOptions): PlannedBind[] {
  const binds: PlannedBind[] = [];
  if (options.port !== 0) binds.push({ option: 'port', protocol: 'tcp', host: options.host, port: options.port });
  if (options.turnPort !== false && options.turnPort !== 0) {
    binds.push({ option: 'turnPort', protocol: 'udp', host: turnListenHost(options), port: options.turnPort });
  }
  if (options.metricsPort !== null && options.metricsPort !== 0) {
    binds.push({ option: 'metricsPort', protocol: 'tcp', host: '127.0.0.1', port: options.metricsPort });
  }
  if (options.inspect !== null) binds.push({ option: 'inspect', protocol: 'tcp', host: '127.0.0.1', port: options.inspect });
  return binds;
}

function readPem(option: 'certfile' | 'keyfile', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    return refuse(option, `cannot read ${path}: ${(cause as Error).message}`, cause);
  }
}

/** certfile and keyfile: readable, a PEM certificate and a PEM private key, and a pair. */
export function checkTlsFiles(tls: ResolvedOptions['tls']): void {
  if (tls === null) return;
  const certPem = readPem('certfile', tls.certfile);
  const keyPem = readPem('keyfile', tls.keyfile);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (cause) {
    return refuse('certfile', `${tls.certfile} holds no PEM certificate: ${(cause as Error).message}`, cause);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (cause) {
    return refuse('keyfile', `${tls.keyfile} holds no usable PEM private key: ${(cause as Error).message}`, cause);
  }
  if (!cert.checkPrivateKey(key)) refuse('keyfile', `${tls.keyfile} is not the private key of the certificate in ${tls.certfile}`);
}

type Probe = { close(): void };

/** Binds one socket as the daemon would; resolves with it open, or rejects with the bind error. */
function probe(bind: PlannedBind): Promise<Probe> {
  return new Promise((resolve, reject) => {
    if (bind.protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind({ address: bind.host, port: bind.port, exclusive: true }, () => resolve(socket));
    } else {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: bind.host, port: bind.port, exclusive: true }, () => resolve(server));
    }
  });
}

/**
 * Binds every planned socket at once (so two options naming one port are
 * caught too), then closes them all; throws naming the first that failed.
 */
export async function checkPortsFree(binds: readonly PlannedBind[]): Promise<void> {
  const results = await Promise.allSettled(binds.map(probe));
  for (const result of results) if (result.status === 'fulfilled') result.value.close();
  const index = results.findIndex((r) => r.status === 'rejected');
  if (index < 0) return;
  const bind = binds[index]!;
  const cause = (results[index] as PromiseRejectedResult).reason as NodeJS.ErrnoException;
  const where = `${bind.protocol} ${bind.host}:${bind.port}`;
  const what = cause.code === 'EADDRINUSE' ? `${where} is already in use` : `cannot bind ${where}: ${cause.message}`;
  const hint = bind.option === 'turnPort' ? '; 0 picks a free port, false disables TURN' : bind.option === 'inspect' ? '' : '; 0 picks a free port';
  const flag = bind.option === 'inspect' ? `--inspect=PORT (default ${DEFAULTS.inspectPort})` : `--${kebab(bind.option)}`;
  refuse(bind.option, `${what} (another process holds it?): choose another with ${flag} or ${envName(bind.option)}${hint}`, cause);
}

/** Everything the daemon checks before it starts. */
export async function preflight(options: ResolvedOptions): Promise<void> {
  checkTlsFiles(options.tls);
  await checkPortsFree(plannedBinds(options));
}
