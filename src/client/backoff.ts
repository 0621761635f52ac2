/**
 * Reconnection delays: exponential, capped, jittered. Attempt `n` (1-based)
 * waits `min(maxDelayMs, initialDelayMs · factor^(n-1))`, of which a random
 * `jitter` share is taken off, so clients dropped together by a restarting
 * server do not all come back at the same instant.
 */
export interface BackoffOptions {
  /** Delay before the first attempt, ms (default 500). */
  initialDelayMs?: number;
  /** No delay is longer than this, ms (default 30 000). */
  maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Share of each delay that is random, 0…1 (default 0.5: each delay is in [d/2, d]). */
  jitter?: number;
  /** Attempts in a row without a successful authentication before giving up (default: no limit). */
  maxAttempts?: number;
}

export type ResolvedBackoff = Required<BackoffOptions>;

export const BACKOFF_DEFAULTS: ResolvedBackoff = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
};

function check(name: string, value: number, ok: boolean): number {
  if (!ok) throw new RangeError(`reconnect.${name}: invalid value ${value}`);
  return value;
}

/** The options with defaults, checked (a RangeError names a bad one). */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const o = { ...BACKOFF_DEFAULTS, ...options };
  check('initialDelayMs', o.initialDelayMs, Number.isFinite(o.initialDelayMs) && o.initialDelayMs >= 0);
  check('maxDelayMs', o.maxDelayMs, Number.isFinite(o.maxDelayMs) && o.maxDelayMs >= o.initialDelayMs);
  check('factor', o.factor, Number.isFinite(o.factor) && o.factor >= 1);
  check('jitter', o.jitter, o.jitter >= 0 && o.jitter <= 1);
  check('maxAttempts', o.maxAttempts, o.maxAttempts >= 1);
  return o;
}

/** The delay before attempt `attempt` (1-based); `random` in [0, 1). */
export function backoffDelay(options: ResolvedBackoff, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** exponent);
  return Math.round(ceiling * (1 - options.jitter * random()));
}
