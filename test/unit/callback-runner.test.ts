import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CallbackRunner } from '../../src/rooms/callback-runner.js';
import type { Callbacks } from '../../src/options.js';

function memoryLog() {
  const chunks: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void chunks.push(s) });
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** Callbacks that record when each call starts and hand back a gate to finish it. */
function gated() {
  const started: string[] = [];
  const gates = new Map<string, Deferred>();
  const make = (kind: string) => (room: string, user: string, others: string[]) => {
    const key = `${kind}:${room}:${user}`;
    started.push(`${key}:[${others.join(',')}]`);
    const d = deferred();
    gates.set(key, d);
    return d.promise;
  };
  const callbacks: Callbacks = { create: make('create'), join: make('join'), leave: make('leave') };
  return { callbacks, started, gate: (key: string) => gates.get(key)! };
}

describe('CallbackRunner', () => {
  test('calls of one room run one after the other, in order, each awaited', async () => {
    const { callbacks, started, gate } = gated();
    const { logger } = memoryLog();
    const runner = new CallbackRunner(callbacks, logger);
    runner.run('create', 'r', 'u1', []);
    runner.run('join', 'r', 'u1', []);
    runner.run('join', 'r', 'u2', ['u1']);
    runner.run('leave', 'r', 'u1', ['u2']);
    await turns();
    assert.deepEqual(started, ['create:r:u1:[]']);
    gate('create:r:u1').resolve();
    await turns();
    assert.deepEqual(started, ['create:r:u1:[]', 'join:r:u1:[]']);
    gate('join:r:u1').resolve();
    await turns();
    gate('join:r:u2').resolve();
    await turns();
    assert.deepEqual(started, ['create:r:u1:[]', 'join:r:u1:[]', 'join:r:u2:[u1]', 'leave:r:u1:[u2]']);
    gate('leave:r:u1').resolve();
    await runner.drain();
    assert.equal(runner.errors, 0);
  });

  test('rooms are independent: a pending callback in one room never delays another room', async () => {
    const { callbacks, started, gate } = gated();
    const runner = new CallbackRunner(callbacks, memoryLog().logger);
    runner.run('join', 'a', 'u1', []);
    runner.run('join', 'a', 'u2', ['u1']);
    runner.run('join', 'b', 'v1', []);
    runner.run('join', 'b', 'v2', ['v1']);
    await turns();
    assert.deepEqual(started, ['join:a:u1:[]', 'join:b:v1:[]']);
    gate('join:b:v1').resolve();
    await turns();
    assert.deepEqual(started, ['join:a:u1:[]', 'join:b:v1:[]', 'join:b:v2:[v1]']);
    gate('join:b:v2').resolve();
    gate('join:a:u1').resolve();
    await turns();
    gate('join:a:u2').resolve();
    await runner.drain();
    assert.deepEqual(started, ['join:a:u1:[]', 'join:b:v1:[]', 'join:b:v2:[v1]', 'join:a:u2:[u1]']);
  });

  test('synchronous callbacks run at once, in order', () => {
    const calls: string[] = [];
    const runner = new CallbackRunner(
      { join: (r, u, o) => void calls.push(`join ${r} ${u} ${o.join(',')}`), leave: (r, u) => void calls.push(`leave ${r} ${u}`) },
      memoryLog().logger,
    );
    runner.run('join', 'r', 'a', []);
    runner.run('join', 'r', 'b', ['a']);
    runner.run('leave', 'r', 'a', ['b']);
    assert.deepEqual(calls, ['join r a ', 'join r b a', 'leave r a']);
  });

  test('a missing callback kind is skipped', async () => {
    const calls: string[] = [];
    const runner = new CallbackRunner({ leave: (_r, u) => void calls.push(u) }, memoryLog().logger);
    runner.run('create', 'r', 'a', []);
    runner.run('join', 'r', 'a', []);
    runner.run('leave', 'r', 'a', []);
    await runner.drain();
    assert.deepEqual(calls, ['a']);
  });

  test('a throw or a rejection is contained, counted and logged; the next callback of the room runs', async () => {
    const { logger, lines } = memoryLog();
    const calls: string[] = [];
    const runner = new CallbackRunner(
      {
        create: () => {
          calls.push('create');
          throw new Error('sync boom');
        },
        join: async (_r, u) => {
          calls.push(`join ${u}`);
          if (u === 'bad') throw new Error('async boom');
        },
        leave: (_r, u) => {
          calls.push(`leave ${u}`);
          return Promise.reject(new Error('rejected boom'));
        },
      },
      logger,
    );
    assert.doesNotThrow(() => runner.run('create', 'r', 'bad', []));
    runner.run('join', 'r', 'bad', []);
    runner.run('join', 'r', 'good', ['bad']);
    runner.run('leave', 'r', 'bad', ['good']);
    runner.run('join', 'r', 'after', ['good']);
    await runner.drain();
    assert.deepEqual(calls, ['create', 'join bad', 'join good', 'leave bad', 'join after']);
    assert.equal(runner.errors, 3);
    const errors = lines().filter((l) => l.level === 50);
    assert.deepEqual(
      errors.map((l) => [l.callback, l.room, l.username, l.err?.message]),
      [
        ['create', 'r', 'bad', 'sync boom'],
        ['join', 'r', 'bad', 'async boom'],
        ['leave', 'r', 'bad', 'rejected boom'],
      ],
    );
  });

  test('a callback still pending after the timeout is logged and the room moves on', async () => {
    const calls: string[] = [];
    const runner = new CallbackRunner(
      {
        join: (_r, u) => {
          calls.push(u);
          return u === 'stuck' ? new Promise(() => {}) : undefined;
        },
      },
      memoryLog().logger,
      20,
    );
    runner.run('join', 'r', 'stuck', []);
    runner.run('join', 'r', 'next', ['stuck']);
    assert.deepEqual(calls, ['stuck']);
    // the runner's timeout timer is unref'd: keep the event loop alive while we wait
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      await runner.drain();
    } finally {
      clearInterval(keepAlive);
    }
    assert.deepEqual(calls, ['stuck', 'next']);
    assert.equal(runner.errors, 1);
  });

  test('drain() resolves at once when idle, and only after every queued callback otherwise', async () => {
    const { callbacks, gate } = gated();
    const runner = new CallbackRunner(callbacks, memoryLog().logger);
    await runner.drain();
    runner.run('join', 'a', 'u', []);
    runner.run('leave', 'a', 'u', []);
    runner.run('join', 'b', 'v', []);
    let drained = false;
    const draining = runner.drain().then(() => {
      drained = true;
    });
    await turns();
    gate('join:a:u').resolve();
    gate('join:b:v').resolve();
    await turns();
    assert.equal(drained, false);
    // queued while draining: drain waits for it too
    runner.run('create', 'c', 'w', []);
    gate('leave:a:u').resolve();
    await turns();
    assert.equal(drained, false);
    gate('create:c:w').resolve();
    await draining;
    assert.equal(drained, true);
  });
});
