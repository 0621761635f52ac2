/**
 * Where options come from in the daemon: the config file, the environment
 * (`WEBRTC_SERVER_<UPPER_SNAKE>`) and CLI flags, merged with precedence
 * flag > env > file > default. Strings from the environment and the CLI are
 * coerced per option here; `parseOptions` then validates the merged object.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ErrorCode, ServerError } from './errors.js';
import { OPTION_NAMES } from './options.js';
import type { OptionName } from './options.js';

type Kind = 'list' | 'string' | 'integer' | 'json' | 'boolean' | 'integer|false' | 'integer|infinity' | 'range' | 'boolean|integer' | 'integer|auto';

/** How a string from the CLI or the environment becomes each option's value. */
export const OPTION_KINDS: Record<OptionName, Kind> = {
  host: 'string',
  port: 'integer',
  certfile: 'string',
  keyfile: 'string',
  hostname: 'string',
  turnIp: 'string',
  turnPort: 'integer|false',
  turnTcp: 'boolean',
  turnTlsPort: 'integer|false',
  relayPorts: 'range',
  idleTimeout: 'integer|infinity',
  authTimeout: 'integer',
  auth: 'json',
  callbacks: 'json',
  maxMessageBytes: 'integer',
  maxAuthAttempts: 'integer',
  rateLimit: 'json',
  allowedOrigins: 'list',
  maxConnections: 'integer',
  maxConnectionsPerIp: 'integer',
  handshakeTimeout: 'integer',
  metricsPort: 'integer',
  redisUrl: 'string',
  allowLoopbackPeers: 'boolean',
  turnAllowedPeers: 'json',
  turnDeniedPeers: 'json',
  turnMaxAllocationsPerUser: 'integer',
  turnMaxAllocations: 'integer',
  turnLifetime: 'integer',
  turnThreads: 'integer|auto',
  adminToken: 'string',
  inspect: 'boolean|integer',
  logLevel: 'string',
  logFormat: 'string',
  example: 'boolean',
};

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const ENV_PREFIX = 'WEBRTC_SERVER_';
export const envName = (name: string): string => `${ENV_PREFIX}${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

function bad(option: string, message: string): never {
  throw new ServerError(ErrorCode.INVALID_OPTION, `invalid option "${option}": ${message}`, { option });
}

function integer(option: string, text: string): number {
  if (!/^-?\d+$/.test(text.trim())) bad(option, `must be an integer, got "${text}"`);
  return Number(text);
}

/** Coerces one option's text (from a flag or an env variable). */
export function coerce(option: OptionName, text: string | boolean): unknown {
  if (typeof text === 'boolean') {
    if (OPTION_KINDS[option] === 'boolean' || OPTION_KINDS[option] === 'boolean|integer') return text;
    bad(option, 'needs a value');
  }
  const t = text.trim();
  switch (OPTION_KINDS[option]) {
    case 'string':
      return text;
    case 'integer':
      return integer(option, t);
    case 'integer|false':
      return t === 'false' ? false : integer(option, t);
    case 'integer|infinity':
      return t === 'infinity' ? 'infinity' : integer(option, t);
    case 'integer|auto':
      return t === 'auto' ? 'auto' : integer(option, t);
    case 'boolean':
      if (t === 'true' || t === '1' || t === '') return true;
      if (t === 'false' || t === '0') return false;
      return bad(option, `must be true or false, got "${text}"`);
    case 'boolean|integer':
      if (t === 'true' || t === '') return true;
      if (t === 'false') return false;
      return integer(option, t);
    case 'range': {
      const m = /^(\d+)\s*[-:,]\s*(\d+)$/.exec(t);
      if (m) return [Number(m[1]), Number(m[2])];
      return json(option, t);
    }
    case 'json':
      return json(option, t);
    case 'list':
      return t.startsWith('[') ? json(option, t) : t.split(',').map((s) => s.trim()).filter(Boolean);
  }
}

function json(option: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return bad(option, `must be JSON, got ${JSON.stringify(text)}`);
  }
}

/**
 * Options named in the environment. A `WEBRTC_SERVER_*` variable that names
 * no option is an error naming it, as an unknown flag or config key is.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const known = new Map(OPTION_NAMES.map((name) => [envName(name), name] as const));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined) continue;
    const name = known.get(key);
    if (name === undefined) bad(key, `unknown environment variable${suggestion(key, [...known.keys()])}`);
    out[name] = coerce(name, value);
  }
  return out;
}

/** `" (did you mean X?)"` for the candidate within 2 edits of `word`, else `""`. */
function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best === null ? '' : ` (did you mean ${best}?)`;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** Reads a JSON config file; relative `module` paths resolve against its folder. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ServerError(ErrorCode.CONFIG_FILE, `cannot read config file ${path}: ${(cause as Error).message}`, { option: 'config', cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ServerError(ErrorCode.CONFIG_FILE, `config file ${path} is not valid JSON: ${(cause as Error).message}`, { option: 'config', cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ServerError(ErrorCode.CONFIG_FILE, `config file ${path} must hold a JSON object`, { option: 'config' });
  }
  const config = value as Record<string, unknown>;
  const dir = dirname(resolve(path));
  for (const key of ['auth', 'callbacks'] as const) {
    const entry = config[key];
    if (typeof entry === 'object' && entry !== null && typeof (entry as { module?: unknown }).module === 'string') {
      const mod = (entry as { module: string }).module;
      config[key] = { ...entry, module: isAbsolute(mod) ? mod : resolve(dir, mod) };
    }
  }
  return config;
}
