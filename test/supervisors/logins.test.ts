/**
 * Where a signaling login's password goes: into TURN's credential cache
 * (TURN then accepts the same credentials without asking `auth` again), and
 * nowhere when TURN is off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildContainer } from '../../supervisors/composition.js';
import { LOGINS, TURN_CREDENTIALS } from '../../src/di/tokens.js';

const BASE = { host: '127.0.0.1', port: 0, logLevel: 'silent', auth: { users: { alice: 'a-pw' } }, turnThreads: 0 } as const;

test('TURN on: a signaling login is remembered for TURN', async () => {
  const c = await buildContainer({ ...BASE, turnPort: 0 });
  c.resolve(LOGINS).loggedIn('alice', 'a-pw', 'alice');
  assert.equal(c.resolve(TURN_CREDENTIALS).lookup('alice')?.password, 'a-pw');
});

test('TURN off: no password is kept after a signaling login', async () => {
  const c = await buildContainer({ ...BASE, turnPort: false });
  c.resolve(LOGINS).loggedIn('alice', 'a-pw', 'alice');
  assert.equal(c.resolve(TURN_CREDENTIALS).size, 0);
});
