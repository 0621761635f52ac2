import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator, DEV_USERS, restPassword, safeEqual } from '../../src/auth/authenticator.js';
import { ErrorCode, ServerError } from '../../src/errors.js';

const setup = { baseDir: tmpdir() };

describe('createAuthenticator: dev mode (auth null)', () => {
  test('accepts the demo users with their password, nobody else', async () => {
    const auth = await createAuthenticator(null, setup);
    for (const [user, pw] of Object.entries(DEV_USERS)) assert.equal(await auth.check(user, pw), user);
    assert.equal(await auth.check('alice', 'wrong'), null);
    assert.equal(await auth.check('mallory', 'demo'), null);
  });
});

describe('createAuthenticator: {users}', () => {
  test('right password → the username; wrong or unknown → null', async () => {
    const auth = await createAuthenticator({ users: { alice: 'a-pw', bob: '' } }, setup);
    assert.equal(await auth.check('alice', 'a-pw'), 'alice');
    assert.equal(await auth.check('alice', 'A-pw'), null);
    assert.equal(await auth.check('alice', 'a-pw '), null);
    assert.equal(await auth.check('alice', ''), null);
    assert.equal(await auth.check('carol', 'a-pw'), null);
    assert.equal(await auth.check('bob', ''), 'bob');
    assert.deepEqual(await auth.passwordFor('alice'), { password: 'a-pw', name: 'alice' });
    assert.equal(await auth.passwordFor('carol'), null);
  });

  test('inherited object keys are not users', async () => {
    const auth = await createAuthenticator({ users: { alice: 'pw' } }, setup);
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal(await auth.passwordFor(name), null, name);
      assert.equal(await auth.check(name, 'pw'), null, name);
    }
  });

  test('later changes to the option object do not change the users', async () => {
    const users: Record<string, string> = { alice: 'pw' };
    const auth = await createAuthenticator({ users }, setup);
    users.eve = 'x';
    users.alice = 'changed';
    assert.equal(await auth.check('eve', 'x'), null);
    assert.equal(await auth.check('alice', 'pw'), 'alice');
  });
});

describe('createAuthenticator: function', () => {
  test('sync and async lookups; the name is the username', async () => {
    const sync = await createAuthenticator((u: string) => `${u}-pw`, setup);
    assert.equal(await sync.check('alice', 'alice-pw'), 'alice');
    assert.equal(await sync.check('alice', 'bob-pw'), null);
    const asyncAuth = await createAuthenticator(async (u: string) => (u === 'bob' ? 'b' : 'x'), setup);
    assert.equal(await asyncAuth.check('bob', 'b'), 'bob');
    assert.equal(await asyncAuth.check('bob', 'x'), null);
  });

  test('a throw, a rejection or a non-string result refuses (never throws)', async () => {
    const results: unknown[] = [undefined, null, 42, { password: 'pw' }, ['pw'], true];
    for (const r of results) {
      const auth = await createAuthenticator(() => r, setup);
      assert.equal(await auth.check('alice', String(r)), null, String(r));
      assert.equal(await auth.passwordFor('alice'), null);
    }
    const throwing = await createAuthenticator(() => {
      throw new Error('db down');
    }, setup);
    assert.equal(await throwing.check('alice', 'pw'), null);
    const rejecting = await createAuthenticator(() => Promise.reject(new Error('db down')), setup);
    assert.equal(await rejecting.check('alice', 'pw'), null);
    const resolvingNonString = await createAuthenticator(async () => 7, setup);
    assert.equal(await resolvingNonString.check('alice', '7'), null);
  });
});

describe('createAuthenticator: {secret} (TURN REST credentials)', () => {
  const secret = 'shared-secret';
  const now = 1_700_000_000_000; // ms
  const wallClock = () => now;
  const future = Math.floor(now / 1000) + 3600;
  const past = Math.floor(now / 1000) - 1;

  test('restPassword is base64(HMAC-SHA1(secret, username))', () => {
    // RFC 2202-style known vector
    const hex = 'de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9';
    assert.equal(restPassword('key', 'The quick brown fox jumps over the lazy dog'), Buffer.from(hex, 'hex').toString('base64'));
  });

  test('valid: unexpired username with the right HMAC → the user part', async () => {
    const auth = await createAuthenticator({ secret }, { ...setup, wallClock });
    const username = `${future}:alice`;
    const password = createHmac('sha1', secret).update(username).digest('base64');
    assert.equal(await auth.check(username, password), 'alice');
    assert.deepEqual(await auth.passwordFor(username), { password, name: 'alice' });
    // the user part may itself contain colons
    const odd = `${future}:team:alice`;
    assert.equal(await auth.check(odd, restPassword(secret, odd)), 'team:alice');
  });

  test('wrong: another secret, another username, or a tampered expiry', async () => {
    const auth = await createAuthenticator({ secret }, { ...setup, wallClock });
    const username = `${future}:alice`;
    assert.equal(await auth.check(username, restPassword('other-secret', username)), null);
    assert.equal(await auth.check(username, restPassword(secret, `${future}:bob`)), null);
    assert.equal(await auth.check(`${future + 1}:alice`, restPassword(secret, username)), null);
    assert.equal(await auth.check(username, ''), null);
  });

  test('expired: refused even with the right HMAC', async () => {
    const auth = await createAuthenticator({ secret }, { ...setup, wallClock });
    const username = `${past}:alice`;
    assert.equal(await auth.check(username, restPassword(secret, username)), null);
    assert.equal(await auth.passwordFor(username), null);
  });

  test('expiry follows the wall clock given', async () => {
    let t = now;
    const auth = await createAuthenticator({ secret }, { ...setup, wallClock: () => t });
    const username = `${Math.floor(now / 1000) + 10}:alice`;
    const password = restPassword(secret, username);
    assert.equal(await auth.check(username, password), 'alice');
    t = now + 11_000;
    assert.equal(await auth.check(username, password), null);
  });

  test('malformed usernames are refused', async () => {
    const auth = await createAuthenticator({ secret }, { ...setup, wallClock });
    for (const username of ['alice', `:alice`, `${future}`, `abc:alice`, `-${future}:alice`, `${future}.5:alice`, ` ${future}:alice`, `0x10:alice`, '']) {
      assert.equal(await auth.check(username, restPassword(secret, username)), null, JSON.stringify(username));
    }
  });
});

describe('createAuthenticator: {module}', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wrs-auth-'));
    await writeFile(
      join(dir, 'auth.mjs'),
      [
        'export function passwordFor(u) { return u === "alice" ? "from-module" : undefined; }',
        'export async function asyncLookup(u) { return u + "!"; }',
        'export const notAFunction = 42;',
        'export default (u) => "default-" + u;',
      ].join('\n'),
    );
    await writeFile(join(dir, 'broken.mjs'), 'export const = ;');
    await writeFile(join(dir, 'named-only.mjs'), 'export const passwordFor = (u) => "named-" + u;');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a named export, resolved against baseDir', async () => {
    const auth = await createAuthenticator({ module: './auth.mjs', export: 'passwordFor' }, { baseDir: dir });
    assert.equal(await auth.check('alice', 'from-module'), 'alice');
    assert.equal(await auth.check('alice', 'nope'), null);
    assert.equal(await auth.check('bob', 'undefined'), null);
  });

  test('an async export, and an absolute path', async () => {
    const auth = await createAuthenticator({ module: join(dir, 'auth.mjs'), export: 'asyncLookup' }, { baseDir: '/nonexistent' });
    assert.equal(await auth.check('bob', 'bob!'), 'bob');
  });

  test('the default export when no export is named', async () => {
    const auth = await createAuthenticator({ module: 'auth.mjs' }, { baseDir: dir });
    assert.equal(await auth.check('carol', 'default-carol'), 'carol');
  });

  test('passwordFor when no export is named and there is no default export', async () => {
    const auth = await createAuthenticator({ module: './named-only.mjs' }, { baseDir: dir });
    assert.equal(await auth.check('dave', 'named-dave'), 'dave');
  });

  function authModuleError(err: unknown): boolean {
    assert.ok(err instanceof ServerError, String(err));
    assert.equal(err.code, ErrorCode.AUTH_MODULE);
    assert.equal(err.option, 'auth');
    return true;
  }

  test('an export that is not a function, or missing, is an AUTH_MODULE error naming auth', async () => {
    await assert.rejects(createAuthenticator({ module: './auth.mjs', export: 'notAFunction' }, { baseDir: dir }), authModuleError);
    await assert.rejects(createAuthenticator({ module: './auth.mjs', export: 'missing' }, { baseDir: dir }), authModuleError);
  });

  test('a missing or broken module is an AUTH_MODULE error naming auth', async () => {
    await assert.rejects(createAuthenticator({ module: './nope.mjs' }, { baseDir: dir }), authModuleError);
    await assert.rejects(createAuthenticator({ module: './broken.mjs' }, { baseDir: dir }), authModuleError);
  });
});

describe('safeEqual', () => {
  test('equal only for identical strings, any lengths', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('', 'a'), false);
  });
});
