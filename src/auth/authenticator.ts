/**
 * How passwords are checked (`auth_fun` of the original). Every form of the
 * `auth` option becomes one `Authenticator`; signaling uses `check`, TURN
 * will use `passwordFor` (long-term credentials need the password itself).
 */
import * as crypto from 'node:crypto';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthOption, PasswordLookup } from '../options.js';
import { ErrorCode, ServerError } from '../errors.js';
import { loadModule } from '../module-loader.js';

export interface Credential {
  /** The password the user must present. */
  password: string;
  /** The name the user is known by in rooms (events, `peers`, callbacks). */
  name: string;
}

export interface Authenticator {
  /** The expected credential for `username`, or null when there is none. Never throws. */
  passwordFor(username: string): Promise<Credential | null>;
  /** The room-visible name when `password` is right, else null. Never throws. */
  check(username: string, password: string): Promise<string | null>;
}

/** Users accepted in dev mode (no `auth` configured); printed at startup. */
export const DEV_USERS: Readonly<Record<string, string>> = Object.freeze({
  alice: 'demo',
  bob: 'demo',
  carol: 'demo',
  dave: 'demo',
});

/** Node's one-shot `crypto.hash` (20.12+, 21.7+) where it exists: a third cheaper than a Hash object per string. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

function digest(s: string): Buffer {
  return oneShot ? oneShot('sha256', s, 'buffer') : createHash('sha256').update(s).digest();
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** base64(HMAC-SHA1(secret, username)): the TURN REST credential form. */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

class LookupAuthenticator implements Authenticator {
  constructor(private readonly lookup: (username: string) => Promise<Credential | null>) {}

  async passwordFor(username: string): Promise<Credential | null> {
    try {
      return await this.lookup(username);
    } catch {
      return null;
    }
  }

  async check(username: string, password: string): Promise<string | null> {
    const expected = await this.passwordFor(username);
    return expected !== null && safeEqual(expected.password, password) ? expected.name : null;
  }
}

function fromFunction(fn: PasswordLookup): Authenticator {
  return new LookupAuthenticator(async (username) => {
    const password = await fn(username);
    return typeof password === 'string' ? { password, name: username } : null;
  });
}

function fromUsers(users: Readonly<Record<string, string>>): Authenticator {
  return new LookupAuthenticator(async (username) =>
    Object.hasOwn(users, username) ? { password: users[username]!, name: username } : null,
  );
}

/** `"<expiry-unix-seconds>:<user>"`, refused once expired (TURN REST API draft). */
function fromSecret(secret: string, wallClock: () => number): Authenticator {
  return new LookupAuthenticator(async (username) => {
    const colon = username.indexOf(':');
    if (colon <= 0) return null;
    const expiry = username.slice(0, colon);
    if (!/^\d+$/.test(expiry) || Number(expiry) * 1000 < wallClock()) return null;
    return { password: restPassword(secret, username), name: username.slice(colon + 1) };
  });
}

export interface AuthenticatorSetup {
  /** Folder against which a relative `module` path is resolved. */
  baseDir: string;
  /** Wall-clock milliseconds, for REST credential expiry. */
  wallClock?: () => number;
}

/** Builds the authenticator for `auth` (null = dev mode: DEV_USERS). */
export async function createAuthenticator(auth: AuthOption | null, setup: AuthenticatorSetup): Promise<Authenticator> {
  if (auth === null) return fromUsers(DEV_USERS);
  if (typeof auth === 'function') return fromFunction(auth);
  if ('users' in auth) return fromUsers({ ...auth.users });
  if ('secret' in auth) return fromSecret(auth.secret, setup.wallClock ?? Date.now);
  const mod = await loadModule(auth.module, setup.baseDir, 'auth');
  // Without `export`: the default export, else `passwordFor` (docs/configuration.md's example name).
  const exportName = auth.export ?? (typeof mod.default === 'function' ? 'default' : 'passwordFor');
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    throw new ServerError(ErrorCode.AUTH_MODULE, `invalid option "auth": export "${exportName}" of ${auth.module} is not a function`, { option: 'auth' });
  }
  return fromFunction(fn as PasswordLookup);
}
