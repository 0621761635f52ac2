/**
 * Options: the one object whose names are shared by the config file, the CLI,
 * the environment and the embedding API (docs/configuration.md). `parseOptions()`
 * validates untrusted input with a schema and fills in defaults; the result is
 * frozen. Nothing here does I/O.
 */
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { z } from 'zod';
import { MAX_RELAY_THREADS } from './turn/relay-thread-protocol.js';
import { ErrorCode, ServerError } from './errors.js';
import { parseCidr } from './turn/peer-filter.js';

/** `auth(username)` returns the expected password (or a promise of it). */
export type PasswordLookup = (username: string) => string | Promise<string> | unknown;
export type LifecycleCallback = (room: string, username: string, otherUsernames: string[]) => unknown;
export interface Callbacks {
  create?: LifecycleCallback;
  join?: LifecycleCallback;
  leave?: LifecycleCallback;
}

export type AuthOption =
  | PasswordLookup
  | { users: Record<string, string> }
  | { module: string; export?: string }
  | { secret: string };
export type CallbacksOption = Callbacks | { module: string };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** `pretty`: one readable line per entry; `json`: pino's JSON lines. */
export type LogFormat = 'pretty' | 'json';

/** What users pass in. Every field is optional. */
export interface Options {
  host?: string;
  port?: number;
  certfile?: string;
  keyfile?: string;
  hostname?: string;
  turnIp?: string;
  turnPort?: number | false;
  /** TURN also over TCP on `turnPort`'s number (RFC 8656 section 5). Default true. */
  turnTcp?: boolean;
  /** TURN over TLS (`turns:`) on this port with `certfile`/`keyfile`; `false`: off; `port`'s number: one port shared with signaling. */
  turnTlsPort?: number | false;
  relayPorts?: [number, number];
  idleTimeout?: number | 'infinity';
  authTimeout?: number;
  auth?: AuthOption;
  callbacks?: CallbacksOption;
  maxMessageBytes?: number;
  maxAuthAttempts?: number;
  /** Frames per socket: `perSecond` sustained, `burst` at once; over it reading pauses; closed after `abuseSeconds` over it. */
  rateLimit?: { perSecond: number; burst: number; abuseSeconds?: number };
  /** Origins allowed to open a signaling WebSocket (`"*"`: any); unset: any. */
  allowedOrigins?: string[];
  /** Open signaling sockets in all (upgraded or upgrading); more get HTTP 503. */
  maxConnections?: number;
  /** Open signaling sockets from one IP (upgraded or upgrading); more get HTTP 429. 0: no limit. */
  maxConnectionsPerIp?: number;
  /** Ms a new TCP connection has to complete its HTTP request (the WebSocket upgrade). */
  handshakeTimeout?: number;
  /** Serve `/metrics` and `/admin/*` on 127.0.0.1:<metricsPort> instead of the signaling listener. */
  metricsPort?: number;
  /** `redis://`, `rediss://` or `redis+sentinel://…`: join the cluster of every server naming the same Redis. */
  redisUrl?: string;
  allowLoopbackPeers?: boolean;
  /** CIDR blocks (or addresses) TURN always relays to: wins over everything, `turnDeniedPeers` included. */
  turnAllowedPeers?: string[];
  /** CIDR blocks (or addresses) TURN never relays to (unless allowed); wins over `allowLoopbackPeers`. */
  turnDeniedPeers?: string[];
  turnMaxAllocationsPerUser?: number;
  turnMaxAllocations?: number;
  turnLifetime?: number;
  /**
   * TURN relay threads (UDP): each a worker thread with its own socket on
   * `turnPort` (SO_REUSEPORT), or "auto" (default): one per core where the
   * runtime has `reusePort` (Node >= 22.12), else 0. 0: TURN relays on the
   * main thread (docs/turn-threads.md).
   */
  turnThreads?: number | 'auto';
  adminToken?: string;
  inspect?: boolean | number;
  logLevel?: LogLevel;
  /** Unset: `pretty` when stdout is a terminal, else `json`. */
  logFormat?: LogFormat;
  /** Serve the example client at `/` (and the client library under `/client/`); default: in dev mode only. */
  example?: boolean;
}

/** Options after validation: defaults filled in, frozen. */
export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly certfile: string; readonly keyfile: string } | null;
  readonly hostname: string;
  readonly turnIp: string | null;
  readonly turnPort: number | false;
  /** False when TURN is off. */
  readonly turnTcp: boolean;
  /** null: no TURN over TLS. Equal to `port`: one TLS port shared with signaling (`sharesTlsPort`). */
  readonly turnTlsPort: number | null;
  readonly relayPorts: readonly [number, number];
  /** Milliseconds, or `Infinity`. */
  readonly idleTimeout: number;
  readonly authTimeout: number;
  /** `null` means dev mode: the demo users are accepted. */
  readonly auth: AuthOption | null;
  readonly callbacks: CallbacksOption | null;
  readonly maxMessageBytes: number;
  readonly maxAuthAttempts: number;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number; readonly abuseSeconds: number };
  /** null: any origin. */
  readonly allowedOrigins: readonly string[] | null;
  readonly maxConnections: number;
  /** Infinity when the option is 0 (no limit). */
  readonly maxConnectionsPerIp: number;
  readonly handshakeTimeout: number;
  readonly metricsPort: number | null;
  /** null: no cluster, everything stays in this process. */
  readonly redisUrl: string | null;
  readonly allowLoopbackPeers: boolean;
  readonly turnAllowedPeers: readonly string[];
  readonly turnDeniedPeers: readonly string[];
  readonly turnMaxAllocationsPerUser: number;
  readonly turnMaxAllocations: number;
  readonly turnLifetime: number;
  /** A count, or "auto" (resolved when TURN starts: src/turn/relay-threads-count.ts). */
  readonly turnThreads: number | 'auto';
  readonly adminToken: string | null;
  readonly inspect: number | null;
  readonly logLevel: LogLevel;
  /** null: chosen when the logger is made (`pretty` on a terminal, else `json`). */
  readonly logFormat: LogFormat | null;
  /** Whether the signaling listener serves the example client (`example`, default `dev`). */
  readonly example: boolean;
  /** True when no `auth` was configured (docs/configuration.md, "Dev mode"). */
  readonly dev: boolean;
}

export const DEFAULTS = {
  port: 8080,
  tlsPort: 8443,
  devHost: '127.0.0.1',
  host: '0.0.0.0',
  turnPort: 3478,
  turnTlsPort: 5349,
  relayPorts: [49152, 65535] as const,
  idleTimeout: 60_000,
  authTimeout: 5_000,
  maxMessageBytes: 65_536,
  maxAuthAttempts: 5,
  /**
   * A newcomer in a full mesh sends an offer and its trickled candidates to
   * every earlier peer at once. Chromium 156 with the example client sends 1
   * offer and up to 20 candidates per peer (host UDP and TCP on each of 4
   * addresses, and relays): a 16-peer newcomer sends 15 × 21 = 315 frames,
   * which the burst takes whole. README "Security and limits".
   */
  rateLimit: { perSecond: 100, burst: 400, abuseSeconds: 10 },
  maxConnections: 20_000,
  maxConnectionsPerIp: 200,
  handshakeTimeout: 10_000,
  turnMaxAllocationsPerUser: 32,
  turnMaxAllocations: 1000,
  turnLifetime: 600,
  inspectPort: 5678,
  logLevel: 'info' as LogLevel,
} as const;

/** Every option name, in the order of docs/configuration.md. The CLI and env are derived from it. */
export const OPTION_NAMES = [
  'host', 'port', 'certfile', 'keyfile', 'hostname', 'turnIp', 'turnPort', 'turnTcp', 'turnTlsPort', 'relayPorts',
  'idleTimeout', 'authTimeout', 'auth', 'callbacks', 'maxMessageBytes', 'maxAuthAttempts',
  'rateLimit', 'allowedOrigins', 'maxConnections', 'maxConnectionsPerIp', 'handshakeTimeout', 'metricsPort', 'redisUrl', 'allowLoopbackPeers', 'turnAllowedPeers', 'turnDeniedPeers', 'turnMaxAllocationsPerUser',
  'turnMaxAllocations', 'turnLifetime', 'turnThreads', 'adminToken', 'inspect', 'logLevel', 'logFormat', 'example',
] as const satisfies readonly (keyof Options)[];
export type OptionName = (typeof OPTION_NAMES)[number];

const port = z.number().int().min(0).max(65535);
const positiveMs = z.number().int().min(1).max(2_147_483_647);
const isFunction = (v: unknown): v is (...args: never[]) => unknown => typeof v === 'function';
const callbackFn = z.custom<LifecycleCallback>(isFunction, { message: 'must be a function' });
/** A list of CIDR blocks (a bare address is a /32 or /128); any error names the option itself and the bad entry. */
const cidrList = z.unknown().transform((value, ctx) => {
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be an array of CIDR strings, e.g. ["10.0.0.0/8", "2001:db8::/32"]' });
    return z.NEVER;
  }
  for (const entry of value as unknown[]) {
    let ok = typeof entry === 'string';
    if (ok) {
      try {
        parseCidr(entry as string);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not a CIDR block or IP address` });
      return z.NEVER;
    }
  }
  return value as string[];
});
const moduleRef = z.strictObject({ module: z.string().min(1), export: z.string().min(1).optional() });

/**
 * A union whose branch is chosen by which key the value has (or `other` when
 * it has none of them), so that an error names the field that is wrong
 * rather than the first branch tried.
 */
function byKey(branches: Record<string, z.ZodType>, other: z.ZodType, message: string) {
  return z.unknown().transform((value, ctx) => {
    const key = typeof value === 'object' && value !== null ? Object.keys(branches).find((k) => k in value) : undefined;
    const schema = key !== undefined ? branches[key]! : other;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) ctx.addIssue({ code: 'custom', message: 'unknown option', path: [...issue.path, k] });
      } else {
        ctx.addIssue({ code: 'custom', message: key === undefined && issue.path.length === 0 ? message : issue.message, path: issue.path });
      }
    }
    return z.NEVER;
  });
}

const optionsSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: port.optional(),
  certfile: z.string().min(1).optional(),
  keyfile: z.string().min(1).optional(),
  hostname: z.string().min(1).optional(),
  turnIp: z.string().refine((v) => isIP(v) === 4, { message: 'must be an IPv4 address' }).optional(),
  turnPort: z.union([port, z.literal(false)]).optional(),
  turnTcp: z.boolean().optional(),
  turnTlsPort: z.union([port, z.literal(false)]).optional(),
  relayPorts: z
    .tuple([port.min(1), port.min(1)])
    .refine(([lo, hi]) => lo <= hi, { message: 'must be [low, high] with low <= high' })
    .optional(),
  idleTimeout: z.union([positiveMs, z.literal('infinity')]).optional(),
  authTimeout: positiveMs.optional(),
  auth: byKey(
    { users: z.strictObject({ users: z.record(z.string(), z.string()) }), module: moduleRef, secret: z.strictObject({ secret: z.string().min(1) }) },
    z.custom<PasswordLookup>(isFunction),
    'must be a function, {"users": {…}}, {"module": "…", "export": "…"} or {"secret": "…"}',
  ).optional(),
  callbacks: byKey(
    { module: z.strictObject({ module: z.string().min(1) }) },
    z.strictObject({ create: callbackFn.optional(), join: callbackFn.optional(), leave: callbackFn.optional() }),
    'must be {"module": "…"} or an object of create/join/leave functions',
  ).optional(),
  maxMessageBytes: z.number().int().min(16).max(100 * 1024 * 1024).optional(),
  maxAuthAttempts: z.number().int().min(1).max(1000).optional(),
  rateLimit: z
    .strictObject({ perSecond: z.number().positive(), burst: z.number().int().min(1), abuseSeconds: z.number().positive().max(86_400).optional() })
    .optional(),
  allowedOrigins: z.array(z.string().refine(isOriginPattern, { message: 'must be "*" or an origin such as "https://app.example.com" (scheme://host[:port], no path)' })).optional(),
  maxConnections: z.number().int().min(1).max(10_000_000).optional(),
  maxConnectionsPerIp: z.number().int().min(0).max(10_000_000).optional(),
  handshakeTimeout: positiveMs.max(600_000).optional(),
  metricsPort: port.optional(),
  redisUrl: z
    .string()
    .refine(isRedisUrl, { message: 'must be redis://[user:password@]host[:port][/db], rediss://… (TLS) or redis+sentinel://host:port[,host:port…]/<master name>' })
    .optional(),
  allowLoopbackPeers: z.boolean().optional(),
  turnAllowedPeers: cidrList.optional(),
  turnDeniedPeers: cidrList.optional(),
  turnMaxAllocationsPerUser: z.number().int().min(1).max(1_000_000).optional(),
  turnMaxAllocations: z.number().int().min(1).max(1_000_000).optional(),
  turnLifetime: z.number().int().min(1).max(3600).optional(),
  turnThreads: z.union([z.number().int().min(0).max(MAX_RELAY_THREADS), z.literal('auto')], { message: `must be an integer 0..${MAX_RELAY_THREADS} or "auto"` }).optional(),
  adminToken: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  inspect: z.union([z.boolean(), port.min(1)]).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  logFormat: z.enum(['pretty', 'json']).optional(),
  example: z.boolean().optional(),
});

/** `"*"`, or `scheme://host[:port]` with nothing after it (what browsers send as `Origin`). */
function isOriginPattern(value: string): boolean {
  if (value === '*') return true;
  try {
    const url = new URL(value);
    return url.origin !== 'null' && url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
  } catch {
    return false;
  }
}

function isRedisUrl(value: string): boolean {
  if (/^redis\+sentinel:\/\/([^@/]*@)?[^/?@]+(:\d+)?(,[^/?@]+(:\d+)?)*\/[^/?]+$/.test(value)) return true;
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** The origin as browsers serialize it (lower-case scheme and host, default port dropped). */
export function normalizeOrigin(value: string): string {
  return value === '*' ? value : new URL(value).origin;
}

/** Throws a ServerError(INVALID_OPTION) naming the first bad option. */
function invalid(option: string, message: string): never {
  throw new ServerError(ErrorCode.INVALID_OPTION, `invalid option "${option}": ${message}`, { option });
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `turnTlsPort`: 5349 by default when there is a certificate, else off; a
 * port needs the certificate and TURN; it cannot be the TCP port TURN over
 * TCP already listens on.
 */
function resolveTurnTlsPort(option: number | false | undefined, turnPort: number | false, turnTcp: boolean, hasTls: boolean): number | null {
  if (option === false) return null;
  if (option === undefined) return hasTls && turnPort !== false ? DEFAULTS.turnTlsPort : null;
  if (turnPort === false) invalid('turnTlsPort', 'TURN is off (turnPort: false); remove turnTlsPort or enable TURN');
  if (!hasTls) invalid('turnTlsPort', 'TURN over TLS needs certfile and keyfile');
  if (turnTcp && option === turnPort && option !== 0) {
    invalid('turnTlsPort', `${option} is turnPort, where TURN over TCP listens; pick another port or set turnTcp: false`);
  }
  return option;
}

/** True when TURN over TLS and signaling share one TLS listener (`turnTlsPort` equal to `port`, `0` included). */
export function sharesTlsPort(options: Pick<ResolvedOptions, 'port' | 'turnTlsPort'>): boolean {
  return options.turnTlsPort !== null && options.turnTlsPort === options.port;
}

/**
 * Validates `input` (untrusted: it may come from a file, the environment or
 * the CLI) and returns frozen options with every default filled in.
 */
export function parseOptions(input: unknown): ResolvedOptions {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ServerError(ErrorCode.INVALID_OPTION, 'options must be an object');
  }
  const result = optionsSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      const where = issue.path.length ? `${issue.path.join('.')}.${key}` : key;
      invalid(where, 'unknown option');
    }
    invalid(issue.path.map(String).join('.') || 'options', issue.message);
  }
  const o = result.data;

  if ((o.certfile === undefined) !== (o.keyfile === undefined)) {
    invalid(o.certfile === undefined ? 'certfile' : 'keyfile', 'certfile and keyfile must be given together');
  }
  const tls = o.certfile !== undefined && o.keyfile !== undefined ? { certfile: o.certfile, keyfile: o.keyfile } : null;
  const dev = o.auth === undefined;
  const host = o.host ?? (dev ? DEFAULTS.devHost : DEFAULTS.host);
  if (dev && !isLoopbackHost(host)) {
    invalid('host', `refusing to listen on non-loopback host ${host} without "auth" (dev mode accepts demo users); configure auth or use 127.0.0.1`);
  }

  const signalingPort = o.port ?? (tls ? DEFAULTS.tlsPort : DEFAULTS.port);
  const turnPort = o.turnPort ?? DEFAULTS.turnPort;
  const turnTcp = turnPort !== false && (o.turnTcp ?? true);
  if (turnTcp && turnPort === signalingPort && turnPort !== 0) {
    invalid('turnTcp', `TURN over TCP would listen on turnPort ${turnPort}, which is port, signaling's; pick other ports or set turnTcp: false`);
  }
  const turnTlsPort = resolveTurnTlsPort(o.turnTlsPort, turnPort, turnTcp, tls !== null);

  return Object.freeze({
    host,
    port: signalingPort,
    tls: tls ? Object.freeze(tls) : null,
    hostname: o.hostname ?? osHostname(),
    turnIp: o.turnIp ?? null,
    turnPort,
    turnTcp,
    turnTlsPort,
    relayPorts: Object.freeze([...(o.relayPorts ?? DEFAULTS.relayPorts)] as [number, number]),
    idleTimeout: o.idleTimeout === 'infinity' ? Infinity : (o.idleTimeout ?? DEFAULTS.idleTimeout),
    authTimeout: o.authTimeout ?? DEFAULTS.authTimeout,
    auth: (o.auth as AuthOption | undefined) ?? null,
    callbacks: (o.callbacks as CallbacksOption | undefined) ?? null,
    maxMessageBytes: o.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
    maxAuthAttempts: o.maxAuthAttempts ?? DEFAULTS.maxAuthAttempts,
    rateLimit: Object.freeze({ ...DEFAULTS.rateLimit, ...o.rateLimit }),
    allowedOrigins: o.allowedOrigins ? Object.freeze(o.allowedOrigins.map(normalizeOrigin)) : null,
    maxConnections: o.maxConnections ?? DEFAULTS.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp === 0 ? Infinity : (o.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp),
    handshakeTimeout: o.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
    metricsPort: o.metricsPort ?? null,
    redisUrl: o.redisUrl ?? null,
    allowLoopbackPeers: o.allowLoopbackPeers ?? false,
    turnAllowedPeers: Object.freeze([...(o.turnAllowedPeers ?? [])]),
    turnDeniedPeers: Object.freeze([...(o.turnDeniedPeers ?? [])]),
    turnMaxAllocationsPerUser: o.turnMaxAllocationsPerUser ?? DEFAULTS.turnMaxAllocationsPerUser,
    turnMaxAllocations: o.turnMaxAllocations ?? DEFAULTS.turnMaxAllocations,
    turnLifetime: o.turnLifetime ?? DEFAULTS.turnLifetime,
    turnThreads: o.turnThreads ?? 'auto',
    adminToken: o.adminToken ?? null,
    inspect: o.inspect === undefined || o.inspect === false ? null : o.inspect === true ? DEFAULTS.inspectPort : o.inspect,
    logLevel: o.logLevel ?? DEFAULTS.logLevel,
    logFormat: o.logFormat ?? null,
    example: o.example ?? dev,
    dev,
  });
}
