/**
 * The admin API's kick with real peer ids (docs/configuration.md, "Admin
 * API"): standard base64 ids hold `/` and `+`, and the id is accepted both
 * percent-encoded and raw (a raw `/` makes extra path segments).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../helpers/client.js';
import { testServer, USERS } from '../helpers/server.js';

const TOKEN = 'admin-token-0123456789';
const ROOM = 'ids';
/** Joins tried before giving up on seeing ids with `/` and `+` (each id has ~19 % odds of a `/`). */
const MAX_JOINS = 400;

async function kick(port: number, idInPath: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${port}/admin/peers/${idInPath}/kick`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, json: await res.json() };
}

/** Joins clients until two ids hold `/` and two others hold `+`; closes every other one at once. */
async function clientsWithIds(port: number): Promise<{ slash: TestClient[]; plus: TestClient[] }> {
  const slash: TestClient[] = [];
  const plus: TestClient[] = [];
  for (let i = 0; i < MAX_JOINS && (slash.length < 2 || plus.length < 2); i++) {
    const c = await TestClient.join(port, ROOM, 'alice', USERS.alice);
    if (slash.length < 2 && c.peerId!.includes('/')) slash.push(c);
    else if (plus.length < 2 && c.peerId!.includes('+')) plus.push(c);
    else {
      c.close();
      await c.closed;
    }
  }
  assert.equal(slash.length, 2, `two ids with "/" within ${MAX_JOINS} joins`);
  assert.equal(plus.length, 2, `two ids with "+" within ${MAX_JOINS} joins`);
  return { slash, plus };
}

test('kick accepts peer ids with "/" and "+" raw and percent-encoded; an unknown peer says so', async (t) => {
  const server = await testServer({ adminToken: TOKEN });
  t.after(() => server.stop());
  const { slash, plus } = await clientsWithIds(server.port);
  t.after(() => [...slash, ...plus].forEach((c) => c.close()));

  const cases: [TestClient, string, string][] = [
    [slash[0]!, slash[0]!.peerId!, 'raw "/"'],
    [slash[1]!, encodeURIComponent(slash[1]!.peerId!), 'encoded %2F'],
    [plus[0]!, plus[0]!.peerId!, 'raw "+"'],
    [plus[1]!, encodeURIComponent(plus[1]!.peerId!), 'encoded %2B'],
  ];
  for (const [client, idInPath, what] of cases) {
    const answer = await kick(server.port, idInPath);
    assert.deepEqual(answer, { status: 200, json: { peerId: client.peerId, kicked: true } }, what);
    assert.deepEqual(await client.closed, { code: 1008, reason: 'kicked by an administrator' }, what);
  }

  // Gone now: the same id, raw, is an unknown peer, and the body says so with the whole id.
  const again = await kick(server.port, slash[0]!.peerId!);
  assert.deepEqual(again, { status: 404, json: { error: 'no such peer', peerId: slash[0]!.peerId } });
  const never = await kick(server.port, 'AAAA/BBB+CCCCC==');
  assert.deepEqual(never, { status: 404, json: { error: 'no such peer', peerId: 'AAAA/BBB+CCCCC==' } });
  assert.equal((await kick(server.port, '%ZZ')).status, 400);
  const get = await fetch(`http://127.0.0.1:${server.port}/admin/peers/${encodeURIComponent(plus[0]!.peerId!)}/kick`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(get.status, 404, 'kick is POST only');
});
