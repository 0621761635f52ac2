import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicSupervisor } from '../../src/otp/dynamic-supervisor.js';
import type { ChildTemplate } from '../../src/otp/dynamic-supervisor.js';
import type { ExitReason } from '../../src/otp/worker.js';
import { ErrorCode, ServerError } from '../../src/errors.js';
import { NameRegistry } from '../../src/otp/registry.js';
import { FakeChildren, FakeWorker, settle} from '../helpers/supervision.js';
import { waitFor } from '../helpers/wait.js';
import { silentLogger } from '../helpers/server.js';

const template = (restart: ChildTemplate['restart'], shutdown = 1_000): ChildTemplate => ({ restart, shutdown, type: 'worker' });

function make(restart: ChildTemplate['restart'], intensity = 10, shutdown = 1_000, registry: NameRegistry | null = null) {
  const fake = new FakeChildren();
  const sup = new DynamicSupervisor<FakeWorker>('dyn', { intensity, period: 60_000 }, template(restart, shutdown), silentLogger, registry);
  const reasons: ExitReason[] = [];
  sup.onExit((r) => reasons.push(r));
  return { fake, sup, reasons };
}

describe('DynamicSupervisor #startChild / #child', () => {
  test('starts a child synchronously and finds it by id', () => {
    const { fake, sup } = make('temporary');
    const a = sup.startChild('a', () => fake.create('a'));
    assert.deepEqual(fake.log, ['start:a']);
    assert.equal(sup.child('a'), a);
    assert.equal(sup.child('nope'), undefined);
    const b = sup.startChild('b', () => fake.create('b'));
    assert.equal(sup.size, 2);
    assert.deepEqual(sup.workers(), [a, b]);
    assert.deepEqual(sup.whichChildren(), [
      { id: 'a', type: 'worker', restart: 'temporary', state: 'running', restarts: 0 },
      { id: 'b', type: 'worker', restart: 'temporary', state: 'running', restarts: 0 },
    ]);
  });

  test('a duplicate id is an error and the second start function is never called', () => {
    const { fake, sup } = make('temporary');
    const a = sup.startChild('a', () => fake.create('a'));
    let called = false;
    assert.throws(
      () =>
        sup.startChild('a', () => {
          called = true;
          return fake.create('a');
        }),
      /child a already exists/,
    );
    assert.equal(called, false);
    assert.equal(sup.child('a'), a);
    assert.equal(sup.size, 1);
  });

  test('a start function that throws leaves no child behind', () => {
    const { fake, sup } = make('permanent');
    fake.failNextStarts('a');
    assert.throws(() => sup.startChild('a', () => fake.create('a')), /a failed to start/);
    assert.equal(sup.child('a'), undefined);
    assert.equal(sup.size, 0);
    // the id is free again
    sup.startChild('a', () => fake.create('a'));
    assert.equal(sup.size, 1);
  });
});

describe('DynamicSupervisor restart types', () => {
  for (const how of ['normal', 'crash'] as const) {
    test(`a temporary child is removed on ${how} exit and not restarted`, async () => {
      const { fake, sup, reasons } = make('temporary', 0);
      const a = sup.startChild('a', () => fake.create('a'));
      const b = sup.startChild('b', () => fake.create('b'));
      if (how === 'crash') a.crash();
      else a.exitNormally();
      await settle();
      assert.equal(sup.child('a'), undefined);
      assert.equal(sup.size, 1);
      assert.equal(sup.child('b'), b);
      assert.deepEqual(sup.whichChildren().map((c) => c.id), ['b']);
      assert.equal(fake.starts('a'), 1);
      assert.deepEqual(reasons, []); // intensity 0, yet no escalation: nothing was restarted
      // the id can be used again
      sup.startChild('a', () => fake.create('a'));
      assert.equal(sup.size, 2);
    });
  }

  for (const how of ['normal', 'crash'] as const) {
    test(`a permanent child is restarted under the same id after a ${how} exit`, async () => {
      const { fake, sup } = make('permanent');
      const first = sup.startChild('a', () => fake.create('a'));
      if (how === 'crash') first.crash();
      else first.exitNormally();
      await settle();
      assert.equal(fake.starts('a'), 2);
      const second = sup.child('a');
      assert.ok(second);
      assert.notEqual(second, first);
      assert.equal(second, fake.current('a'));
      assert.deepEqual(sup.whichChildren(), [{ id: 'a', type: 'worker', restart: 'permanent', state: 'running', restarts: 1 }]);
      // and the new incarnation is linked too
      second.crash();
      await settle();
      assert.equal(fake.starts('a'), 3);
      assert.equal(sup.whichChildren()[0]!.restarts, 2);
    });
  }

  test('a transient child is removed on normal exit, restarted after a crash', async () => {
    const { fake, sup } = make('transient');
    sup.startChild('a', () => fake.create('a'));
    sup.startChild('b', () => fake.create('b'));
    fake.current('a').exitNormally();
    fake.current('b').crash();
    await settle();
    assert.equal(sup.child('a'), undefined);
    assert.equal(fake.starts('a'), 1);
    assert.equal(sup.child('b'), fake.current('b'));
    assert.equal(fake.starts('b'), 2);
  });

  test('a permanent child whose restart fails is removed', async () => {
    const { fake, sup, reasons } = make('permanent');
    sup.startChild('a', () => fake.create('a'));
    fake.failNextStarts('a');
    fake.current('a').crash();
    await settle();
    assert.equal(sup.child('a'), undefined);
    assert.equal(sup.size, 0);
    assert.deepEqual(reasons, []);
  });
});

describe('DynamicSupervisor restart intensity', () => {
  test('the restart beyond the intensity escalates: every child stopped, onExit gets MAX_RESTART_INTENSITY', async () => {
    const { fake, sup, reasons } = make('permanent', 2);
    sup.startChild('a', () => fake.create('a'));
    sup.startChild('b', () => fake.create('b'));
    sup.startChild('c', () => fake.create('c'));
    fake.current('b').crash();
    fake.current('b').crash();
    await settle();
    assert.equal(fake.starts('b'), 3);
    assert.deepEqual(reasons, []);
    fake.log.length = 0;
    fake.current('b').crash();
    await waitFor(() => reasons.length > 0, 5_000, 'escalation', 1);
    assert.equal(fake.starts('b'), 3);
    assert.deepEqual([...fake.log].sort(), ['exit:b', 'stop:a', 'stop:c']);
    assert.equal(fake.current('a').stopCalls, 1);
    assert.equal(fake.current('c').stopCalls, 1);
    assert.equal(reasons.length, 1);
    const reason: unknown = reasons[0];
    assert.ok(reason instanceof ServerError);
    assert.equal(reason.code, ErrorCode.MAX_RESTART_INTENSITY);
    assert.equal(sup.size, 0);
    assert.throws(() => sup.startChild('d', () => fake.create('d')), (err: unknown) => err instanceof ServerError && err.code === ErrorCode.NOT_RUNNING);
    const late: ExitReason[] = [];
    sup.onExit((r) => late.push(r));
    assert.deepEqual(late, [reason]);
  });

  test('temporary exits never count toward the intensity', async () => {
    const { fake, sup, reasons } = make('temporary', 0);
    for (let i = 0; i < 5; i++) {
      sup.startChild(`c${i}`, () => fake.create(`c${i}`)).crash();
    }
    await settle();
    assert.deepEqual(reasons, []);
    sup.startChild('still', () => fake.create('still'));
    assert.equal(sup.size, 1);
  });
});

describe('DynamicSupervisor #stop', () => {
  test('tells every child to stop at once, then waits for all of them', async () => {
    const { fake, sup } = make('permanent');
    sup.startChild('a', () => fake.create('a', { slowStop: true }));
    sup.startChild('b', () => fake.create('b', { slowStop: true }));
    sup.startChild('c', () => fake.create('c'));
    let done = false;
    const stopping = sup.stop().then(() => {
      done = true;
    });
    await settle();
    assert.deepEqual([...fake.log].sort(), ['start:a', 'start:b', 'start:c', 'stop:a', 'stop:b', 'stop:c']);
    assert.equal(done, false);
    fake.current('b').finishStop();
    await settle();
    assert.equal(done, false);
    fake.current('a').finishStop();
    await stopping;
    assert.equal(done, true);
    assert.equal(sup.size, 0);
    assert.deepEqual(sup.whichChildren(), []);
    // permanent children stopped by their supervisor are not restarted
    assert.equal(fake.starts('a'), 1);
    assert.equal(fake.starts('b'), 1);
    assert.equal(fake.starts('c'), 1);
  });

  test('a child too slow to stop is killed', async () => {
    const { fake, sup } = make('temporary', 10, 15);
    sup.startChild('a', () => fake.create('a', { slowStop: true }));
    sup.startChild('b', () => fake.create('b'));
    await sup.stop();
    assert.equal(fake.current('a').killCalls, 1);
    assert.equal(fake.current('b').killCalls, 0);
  });

  test('stop() is idempotent and startChild after stop throws NOT_RUNNING', async () => {
    const { fake, sup } = make('permanent');
    sup.startChild('a', () => fake.create('a'));
    await sup.stop();
    await sup.stop();
    assert.equal(fake.current('a').stopCalls, 1);
    let called = false;
    assert.throws(
      () =>
        sup.startChild('b', () => {
          called = true;
          return fake.create('b');
        }),
      (err: unknown) => err instanceof ServerError && err.code === ErrorCode.NOT_RUNNING,
    );
    assert.equal(called, false);
  });

  test('a second, concurrent stop() resolves only once every child has stopped', async () => {
    const { fake, sup } = make('permanent');
    sup.startChild('a', () => fake.create('a', { slowStop: true }));
    const first = sup.stop();
    let secondDone = false;
    const second = sup.stop().then(() => {
      secondDone = true;
    });
    await settle();
    assert.equal(secondDone, false, 'second stop() resolved while child a was still stopping');
    fake.current('a').finishStop();
    await Promise.all([first, second]);
    assert.equal(fake.current('a').stopCalls, 1);
  });

  test('a child exiting while the supervisor stops is not restarted', async () => {
    const { fake, sup } = make('permanent');
    sup.startChild('a', () => fake.create('a', { slowStop: true }));
    const stopping = sup.stop();
    fake.current('a').crash();
    fake.current('a').finishStop();
    await stopping;
    assert.equal(fake.starts('a'), 1);
  });

  test('registers under its name while running and unregisters on stop', async () => {
    const registry = new NameRegistry();
    const { sup } = make('temporary', 10, 1_000, registry);
    assert.equal(registry.whereis('dyn'), sup);
    await sup.stop();
    assert.equal(registry.whereis('dyn'), undefined);
  });
});

describe('DynamicSupervisor #terminateChild', () => {
  test('stops and removes one child; a permanent one is not restarted', async () => {
    const { fake, sup } = make('permanent');
    sup.startChild('a', () => fake.create('a'));
    const b = sup.startChild('b', () => fake.create('b'));
    await sup.terminateChild('a');
    await settle();
    assert.equal(fake.current('a').stopCalls, 1);
    assert.equal(sup.child('a'), undefined);
    assert.equal(fake.starts('a'), 1);
    assert.equal(sup.child('b'), b);
    await sup.terminateChild('unknown'); // no-op
    assert.equal(sup.size, 1);
  });
});
