#!/usr/bin/env node
/**
 * The daemon: `webrtc-server [--config FILE] [--port N] …`. Every option is a
 * flag and an environment variable; invalid configuration, an unknown
 * `WEBRTC_SERVER_*` variable, unusable TLS files and ports in use exit 2
 * naming the option, before anything starts (`preflight.ts`). SIGTERM/SIGINT
 * drain: stop accepting, close sockets with 1001 (`left` and `leave` fire),
 * stop TURN, exit 0. The process guards
 * (`process-guard.ts`) contain stray rejections and uncaught exceptions; more
 * than 5 within 60 s drain the same way and exit 70 (EX_SOFTWARE), and an exit
 * behind the drain's back (user code calling `process.exit(0)`) exits 70 too.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { startApplication } from '../supervisors/app.js';
import type { ServerHandle } from '../supervisors/app.js';
import { coerce, envName, kebab, OPTION_KINDS, optionsFromEnv, readConfigFile } from './config.js';
import { ErrorCode, ServerError } from './errors.js';
import { packageRoot } from './http/static-example.js';
import { createLogger } from './observability/log-output.js';
import { OPTION_NAMES, parseOptions } from './options.js';
import { preflight } from './preflight.js';
import { EX_SOFTWARE, installProcessGuards } from './process-guard.js';

/** How long a drain (signal or fatal error) may take before the process exits anyway. */
const DRAIN_TIMEOUT_MS = 60_000;

const DESCRIPTIONS: Record<(typeof OPTION_NAMES)[number], string> = {
  host: 'interface for the signaling listener (default 127.0.0.1 in dev mode, else 0.0.0.0)',
  port: 'signaling port; 0 picks a free one (default 8080, 8443 with TLS)',
  certfile: 'PEM certificate: with --keyfile, signaling is wss://',
  keyfile: 'PEM private key',
  hostname: 'TURN realm, looked up for the relay address (default: os.hostname())',
  turnIp: 'relay address announced to clients (default: first A record of hostname)',
  turnPort: 'STUN/TURN UDP port; 0 picks a free one; false disables TURN (default 3478)',
  turnTcp: 'TURN also over TCP on the turnPort number (default true)',
  turnTlsPort: 'TURN over TLS (turns:) port with certfile/keyfile; false: off; the same as --port shares one TLS port with signaling (default 5349 with a certificate, else off)',
  relayPorts: 'relay port range, LOW-HIGH (default 49152-65535)',
  idleTimeout: 'ms without data before a socket is closed, or infinity (default 60000)',
  authTimeout: 'ms to authenticate before close 1000 (default 5000)',
  auth: 'JSON: {"users":{…}} | {"module":"./auth.mjs","export":"passwordFor"} | {"secret":"…"}',
  callbacks: 'JSON: {"module":"./hooks.mjs"} exporting create, join, leave',
  maxMessageBytes: 'larger frames close 1009 (default 65536)',
  maxAuthAttempts: 'failed authentications per socket before close 1008 (default 5)',
  rateLimit: 'JSON {"perSecond":100,"burst":400,"abuseSeconds":10}: frames per socket; over it reading pauses; closed 1008 after abuseSeconds over it',
  allowedOrigins: 'origins allowed to open a WebSocket, comma-separated or a JSON array ("*": any); others get HTTP 403 (default: any)',
  maxConnections: 'open signaling sockets in all; more get HTTP 503 (default 20000)',
  maxConnectionsPerIp: 'open signaling sockets from one IP; more get HTTP 429; 0: no limit (default 200)',
  handshakeTimeout: 'ms a new connection has to send its HTTP request / WebSocket upgrade (default 10000)',
  metricsPort: 'serve /metrics and /admin/* on 127.0.0.1:PORT only, not on the signaling listener',
  redisUrl: 'redis://…, rediss://… or redis+sentinel://h:26379,…/master: rooms span every server naming the same Redis',
  allowLoopbackPeers: 'TURN may relay to loopback peers (tests, local demos)',
  turnAllowedPeers: 'JSON array of CIDR blocks TURN always relays to, e.g. ["10.1.0.0/16"]; wins over every other rule',
  turnDeniedPeers: 'JSON array of CIDR blocks TURN never relays to (unless allowed); wins over allowLoopbackPeers',
  turnMaxAllocationsPerUser: 'most TURN allocations one user may hold; more get 486 (default 32)',
  turnMaxAllocations: 'most TURN allocations in all; more get 508 (default 1000)',
  turnLifetime: 'most seconds of TURN allocation lifetime granted (default 600, max 3600)',
  turnThreads: 'TURN UDP relay threads, 0..64, or auto: one per core where Node has reusePort (>= 22.12), else 0 (default auto)',
  adminToken: 'enables /admin/* with Authorization: Bearer <token>',
  inspect: 'start a loopback relay for the Stately inspector (default port 5678)',
  logLevel: 'fatal, error, warn, info, debug, trace or silent (default info)',
  logFormat: 'pretty (readable lines) or json (pino JSON lines); default: pretty when stdout is a terminal, else json',
  example: 'serve the example client at / (default: in dev mode only)',
};

/** The version in our package.json. */
function packageVersion(): string {
  return String((JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version);
}

function program(): Command {
  const cmd = new Command('webrtc-server')
    .description('Signaling (WebSocket) and STUN/TURN server for WebRTC video calls')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .option('-c, --config <file>', 'JSON config file (options by the names below)')
    .showHelpAfterError()
    .allowExcessArguments(false);
  for (const name of OPTION_NAMES) {
    const kind = OPTION_KINDS[name];
    const flag = kind === 'boolean' ? `--${kebab(name)} [bool]` : kind === 'boolean|integer' ? `--${kebab(name)} [port]` : `--${kebab(name)} <value>`;
    cmd.addOption(new Option(flag, `${DESCRIPTIONS[name]} [env ${envName(name)}]`));
  }
  return cmd;
}

/** Merges file < env < flags into one untrusted options object. */
export function gatherOptions(argv: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const cmd = program().exitOverride();
  cmd.parse(argv, { from: 'user' });
  const flags = cmd.opts<Record<string, string | boolean | undefined>>();
  const fromFile = flags.config ? readConfigFile(String(flags.config)) : {};
  const fromFlags: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const value = flags[name];
    if (value !== undefined) fromFlags[name] = coerce(name, value);
  }
  return { ...fromFile, ...optionsFromEnv(env), ...fromFlags };
}

async function main(): Promise<void> {
  let options: Record<string, unknown>;
  try {
    options = gatherOptions(process.argv.slice(2), process.env);
    // Before anything starts: the options, the TLS files and the fixed ports (all exit 2).
    await preflight(parseOptions(options));
  } catch (err) {
    if (err instanceof ServerError) fail(err.message, 2);
    const code = (err as { exitCode?: number }).exitCode;
    process.exit(code === 0 ? 0 : 2); // commander printed help or its error already
  }
  let server: ServerHandle;
  try {
    server = await startApplication(options);
  } catch (err) {
    if (err instanceof ServerError) fail(err.message, err.code === ErrorCode.INVALID_OPTION ? 2 : 1);
    throw err;
  }
  // Synchronous: the guards may log from the 'exit' event.
  const logger = createLogger(server.options, true).child({ component: 'process' });
  let status = 0;
  let stopping = false;
  let uninstallGuards = (): void => {};
  /** Our own exits: the guards would take any other exit for user code's process.exit(). */
  const exit = (code: number): never => {
    uninstallGuards();
    process.exit(code);
  };
  const shutdown = (code: number): void => {
    status = Math.max(status, code);
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      process.stderr.write('webrtc-server: drain took too long, exiting\n');
      exit(Math.max(status, 1));
    }, DRAIN_TIMEOUT_MS);
    force.unref();
    server.stop().then(
      () => exit(status),
      (err: unknown) => {
        process.stderr.write(`webrtc-server: error while stopping: ${String(err)}\n`);
        exit(Math.max(status, 1));
      },
    );
  };
  uninstallGuards = installProcessGuards(server, logger, { onFatal: () => shutdown(EX_SOFTWARE) });
  server.onExit(() => exit(1));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`webrtc-server: ${signal} again, exiting now\n`);
      exit(Math.max(status, 1));
    }
    shutdown(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP reloads the TLS certificate and key (log line either way); connections are kept.
  process.on('SIGHUP', () => {
    const result = server.reloadTls();
    if (!result.reloaded) logger.info({ reason: result.reason }, 'SIGHUP: TLS certificate not reloaded');
  });
}

function fail(message: string, code: number): never {
  process.stderr.write(`webrtc-server: ${message}\n`);
  process.exit(code);
}

void main();
