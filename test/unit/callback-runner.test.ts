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
      { timeoutMs: 20 },
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

  test('a room whose callback never settles holds at most maxQueuedPerRoom waiting calls: the rest are dropped, counted and logged in one line; after the timeout the queue drains', async () => {
    const { logger, lines } = memoryLog();
    const calls: string[] = [];
    const reasons: string[] = [];
    const settle = (kind: string) => (room: string, user: string) => {
      calls.push(`${kind} ${room} ${user}`);
      return user === 'stuck' ? new Promise(() => {}) : Promise.resolve();
    };
    const runner = new CallbackRunner({ join: settle('join'), leave: settle('leave') }, logger, {
      timeoutMs: 200,
      maxQueuedPerRoom: 4,
      onDrop: (reason) => reasons.push(reason),
    });
    runner.run('join', 'r', 'stuck', []);
    for (let i = 0; i < 1000; i++) runner.run(i % 2 === 0 ? 'join' : 'leave', 'r', `u${i}`, []);
    assert.equal(runner.waiting('r'), 4, 'the queue stays at its bound');
    assert.equal(runner.size, 5, 'one pending, four waiting');
    assert.equal(runner.dropped, 996);
    assert.equal(reasons.length, 996);
    assert.ok(reasons.every((r) => r === 'room_queue_full'));
    const warnings = () => lines().filter((l) => l.level === 40);
    assert.equal(warnings().length, 1, 'a flood of drops is one log line, not one per drop');
    assert.equal(warnings()[0].rooms[0], 'r');

    // Another room is not held up.
    runner.run('join', 'other', 'v', []);
    assert.deepEqual(calls, ['join r stuck', 'join other v']);

    const keepAlive = setInterval(() => {}, 1_000); // the timeout timer is unref'd
    try {
      await runner.drain();
    } finally {
      clearInterval(keepAlive);
    }
    assert.deepEqual(calls, ['join r stuck', 'join other v', 'join r u0', 'leave r u1', 'join r u2', 'leave r u3']);
    assert.equal(runner.errors, 1, 'the stuck call timed out');
    assert.equal(runner.size, 0);
    assert.equal(runner.waiting('r'), 0);
    const logged = warnings().reduce((n, l) => n + l.dropped, 0);
    assert.equal(logged, 996, 'drain() logs the drops not logged yet');
    assert.ok(warnings().length <= 2, `at most two lines: ${JSON.stringify(warnings())}`);

    // The room takes calls again.
    runner.run('join', 'r', 'again', []);
    await runner.drain();
    assert.equal(calls.at(-1), 'join r again');
    assert.equal(runner.dropped, 996);
  });

  test('all rooms together hold at most maxQueuedTotal calls pending or waiting; beyond it calls are dropped, even for an idle room', async () => {
    const { logger, lines } = memoryLog();
    const calls: string[] = [];
    const reasons: string[] = [];
    const runner = new CallbackRunner(
      {
        join: (room, user) => {
          calls.push(`${room} ${user}`);
          return user.startsWith('stuck') ? new Promise(() => {}) : Promise.resolve();
        },
      },
      logger,
      { timeoutMs: 200, maxQueuedPerRoom: 100, maxQueuedTotal: 5, onDrop: (reason) => reasons.push(reason) },
    );
    for (let room = 0; room < 20; room++) {
      runner.run('join', `r${room}`, 'stuck', []);
      runner.run('join', `r${room}`, 'next', ['stuck']);
    }
    assert.equal(runner.size, 5);
    assert.deepEqual(calls, ['r0 stuck', 'r1 stuck', 'r2 stuck'], 'rooms past the bound never start');
    assert.equal(runner.waiting('r0') + runner.waiting('r1') + runner.waiting('r2'), 2);
    assert.equal(runner.dropped, 35);
    assert.equal(reasons.filter((r) => r === 'total_queue_full').length, 35);
    assert.equal(lines().filter((l) => l.level === 40).length, 1);

    const keepAlive = setInterval(() => {}, 1_000);
    try {
      await runner.drain();
    } finally {
      clearInterval(keepAlive);
    }
    assert.equal(runner.size, 0);
    assert.deepEqual(calls, ['r0 stuck', 'r1 stuck', 'r2 stuck', 'r0 next', 'r1 next']);
    runner.run('join', 'r19', 'late', []);
    await runner.drain();
    assert.equal(calls.at(-1), 'r19 late', 'once below the bound, calls run again');
  });
});

