import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor } from '../../src/otp/supervisor.js';
import type { SupervisorFlags, Strategy } from '../../src/otp/supervisor.js';
import { RestartIntensity, shutdownWorker } from '../../src/otp/worker.js';
import type { ChildSpec, ExitReason } from '../../src/otp/worker.js';
import { ErrorCode, ServerError } from '../../src/errors.js';
import { FakeChildren, FakeWorker, settle} from '../helpers/supervision.js';
import { waitFor } from '../helpers/wait.js';
import { silentLogger } from '../helpers/server.js';

const flags = (strategy: Strategy, intensity = 10, period = 60_000): SupervisorFlags => ({ strategy, intensity, period });

async function started(fake: FakeChildren, f: SupervisorFlags, specs: ChildSpec[], name = 'sup'): Promise<Supervisor> {
  const sup = await new Supervisor(name, f, specs, silentLogger).start();
  fake.log.length = 0;
  return sup;
}

/** Collects the reasons a supervisor reports through onExit. */
function exits(sup: Supervisor): ExitReason[] {
  const reasons: ExitReason[] = [];
  sup.onExit((r) => reasons.push(r));
  return reasons;
}

function stateOf(sup: Supervisor, id: string) {
  const info = sup.whichChildren().find((c) => c.id === id);
  assert.ok(info, `child ${id} listed`);
  return info;
}

describe('Supervisor #start / #stop', () => {
  test('starts children left to right and stops them right to left', async () => {
    const fake = new FakeChildren();
    const sup = await new Supervisor('sup', flags('one_for_one'), [fake.spec('a'), fake.spec('b'), fake.spec('c')], silentLogger).start();
    assert.deepEqual(fake.log, ['start:a', 'start:b', 'start:c']);
    fake.log.length = 0;
    await sup.stop();
    assert.deepEqual(fake.log, ['stop:c', 'stop:b', 'stop:a']);
    assert.deepEqual(sup.whichChildren().map((c) => c.state), ['stopped', 'stopped', 'stopped']);
  });

  test('nested supervisors start depth first in order and stop in exact reverse', async () => {
    const fake = new FakeChildren();
    const inner: ChildSpec = {
      id: 'inner',
      type: 'supervisor',
      restart: 'permanent',
      shutdown: 1_000,
      start: () => new Supervisor('inner', flags('one_for_one'), [fake.spec('x'), fake.spec('y')], silentLogger).start(),
    };
    const sup = await new Supervisor('outer', flags('one_for_one'), [fake.spec('a'), inner, fake.spec('b')], silentLogger).start();
    assert.deepEqual(fake.log, ['start:a', 'start:x', 'start:y', 'start:b']);
    const tree = sup.whichChildren();
    assert.deepEqual(tree.map((c) => c.id), ['a', 'inner', 'b']);
    assert.deepEqual(tree[1]!.children?.map((c) => [c.id, c.state]), [['x', 'running'], ['y', 'running']]);
    fake.log.length = 0;
    await sup.stop();
    assert.deepEqual(fake.log, ['stop:b', 'stop:y', 'stop:x', 'stop:a']);
  });

  test('start() twice is refused', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one'), [fake.spec('a')]);
    await assert.rejects(sup.start(), /already started/);
    await sup.stop();
  });

  test('duplicate child ids are refused at construction', () => {
    const fake = new FakeChildren();
    assert.throws(() => new Supervisor('sup', flags('one_for_one'), [fake.spec('a'), fake.spec('a')], silentLogger), /duplicate child id a/);
  });

  for (const sync of [false, true]) {
    test(`a child failing to start (${sync ? 'throwing' : 'rejecting'}) stops those already started and start() rejects`, async () => {
      const fake = new FakeChildren();
      fake.failNextStarts('b');
      const sup = new Supervisor('sup', flags('one_for_one'), [fake.spec('a'), fake.spec('a2'), fake.spec('b', 'permanent', { syncStart: sync }), fake.spec('c')], silentLogger);
      await assert.rejects(sup.start(), (err: unknown) => {
        assert.ok(err instanceof ServerError);
        assert.equal(err.code, ErrorCode.CHILD_START);
        assert.match(err.message, /b failed to start/);
        return true;
      });
      assert.deepEqual(fake.log, ['start:a', 'start:a2', 'startfail:b', 'stop:a2', 'stop:a']);
      assert.equal(fake.starts('c'), 0);
      assert.deepEqual(sup.whichChildren().map((c) => c.state), ['stopped', 'stopped', 'stopped', 'stopped']);
      // stopping it afterwards stops nothing more
      await sup.stop();
      assert.deepEqual(fake.log, ['start:a', 'start:a2', 'startfail:b', 'stop:a2', 'stop:a']);
    });
  }

  test('stop() is idempotent: each child is stopped once', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one'), [fake.spec('a'), fake.spec('b')]);
    await sup.stop();
    await sup.stop();
    assert.deepEqual(fake.log, ['stop:b', 'stop:a']);
    assert.equal(fake.current('a').stopCalls, 1);
    assert.equal(fake.current('b').stopCalls, 1);
  });

  test('a second, concurrent stop() resolves only once every child has stopped', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one'), [fake.spec('a'), fake.spec('b', 'permanent', { slowStop: true })]);
    const first = sup.stop();
    let secondDone = false;
    const second = sup.stop().then(() => {
      secondDone = true;
    });
    await waitFor(() => fake.log.includes('stop:b'), 5_000, 'stop:b', 1);
    await settle();
    assert.equal(secondDone, false, 'second stop() resolved while child b was still stopping');
    fake.current('b').finishStop();
    await Promise.all([first, second]);
    assert.deepEqual(fake.log, ['stop:b', 'stopped:b', 'stop:a']);
    assert.equal(fake.current('b').stopCalls, 1);
  });

  test('a child that does not stop within its shutdown time is killed, and the rest still stop', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one'), [fake.spec('a'), fake.spec('b', 'permanent', { slowStop: true, shutdown: 20 }), fake.spec('c')]);
    await sup.stop();
    assert.deepEqual(fake.log, ['stop:c', 'stop:b', 'kill:b', 'stop:a']);
    assert.equal(fake.current('b').killCalls, 1);
    assert.equal(fake.current('a').killCalls, 0);
    assert.equal(fake.current('c').killCalls, 0);
  });

  test('shutdownWorker: stopped in time → no kill; too slow → kill', async () => {
    const log: string[] = [];
    const quick = new FakeWorker('q', 1, log);
    assert.equal(await shutdownWorker(quick, 50), 'stopped');
    const slow = new FakeWorker('s', 1, log, { slowStop: true });
    assert.equal(await shutdownWorker(slow, 10), 'killed');
    assert.deepEqual(log, ['stop:q', 'stop:s', 'kill:s']);
  });
});

describe('Supervisor strategies', () => {
  test('one_for_one restarts only the crashed child', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one'), [fake.spec('a'), fake.spec('b'), fake.spec('c')]);
    const [a, c] = [fake.current('a'), fake.current('c')];
    fake.current('b').crash();
    await waitFor(() => fake.starts('b') === 2, 5_000, 'b restarted', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:b', 'start:b']);
    assert.equal(fake.current('a'), a);
    assert.equal(fake.current('c'), c);
    assert.equal(sup.child('b'), fake.current('b'));
    assert.deepEqual(sup.whichChildren().map((ch) => [ch.id, ch.state, ch.restarts]), [
      ['a', 'running', 0],
      ['b', 'running', 1],
      ['c', 'running', 0],
    ]);
    await sup.stop();
  });

  test('one_for_all stops the others in reverse order, then restarts all in order', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_all'), [fake.spec('a'), fake.spec('b'), fake.spec('c'), fake.spec('d')]);
    fake.current('b').crash();
    await waitFor(() => fake.starts('d') === 2, 5_000, 'all restarted', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:b', 'stop:d', 'stop:c', 'stop:a', 'start:a', 'start:b', 'start:c', 'start:d']);
    assert.deepEqual(sup.whichChildren().map((ch) => [ch.id, ch.state, ch.restarts]), [
      ['a', 'running', 1],
      ['b', 'running', 1],
      ['c', 'running', 1],
      ['d', 'running', 1],
    ]);
    await sup.stop();
  });

  test('rest_for_one restarts the crashed child and those started after it', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('rest_for_one'), [fake.spec('a'), fake.spec('b'), fake.spec('c'), fake.spec('d')]);
    const a = fake.current('a');
    fake.current('b').crash();
    await waitFor(() => fake.starts('d') === 2, 5_000, 'rest restarted', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:b', 'stop:d', 'stop:c', 'start:b', 'start:c', 'start:d']);
    assert.equal(fake.current('a'), a);
    assert.equal(fake.starts('a'), 1);
    assert.deepEqual(sup.whichChildren().map((ch) => [ch.id, ch.restarts]), [['a', 0], ['b', 1], ['c', 1], ['d', 1]]);
    await sup.stop();
  });

  test('rest_for_one: a crash of the last child restarts only it', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('rest_for_one'), [fake.spec('a'), fake.spec('b')]);
    fake.current('b').crash();
    await waitFor(() => fake.starts('b') === 2, 5_000, 'b restarted', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:b', 'start:b']);
    await sup.stop();
  });

  test('one_for_all: a temporary sibling is stopped and not restarted', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_all'), [fake.spec('a'), fake.spec('t', 'temporary'), fake.spec('c')]);
    fake.current('a').crash();
    await waitFor(() => fake.starts('c') === 2, 5_000, 'restarted', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:a', 'stop:c', 'stop:t', 'start:a', 'start:c']);
    assert.equal(fake.starts('t'), 1);
    assert.equal(sup.child('t'), null);
    await sup.stop();
  });
});

describe('Supervisor restart types', () => {
  const cases: { restart: 'permanent' | 'transient' | 'temporary'; reason: 'normal' | 'shutdown' | 'crash'; restarted: boolean }[] = [
    { restart: 'permanent', reason: 'normal', restarted: true },
    { restart: 'permanent', reason: 'shutdown', restarted: true },
    { restart: 'permanent', reason: 'crash', restarted: true },
    { restart: 'transient', reason: 'normal', restarted: false },
    { restart: 'transient', reason: 'shutdown', restarted: false },
    { restart: 'transient', reason: 'crash', restarted: true },
    { restart: 'temporary', reason: 'normal', restarted: false },
    { restart: 'temporary', reason: 'crash', restarted: false },
  ];
  for (const { restart, reason, restarted } of cases) {
    test(`${restart} child, ${reason} exit → ${restarted ? 'restarted' : 'not restarted'}`, async () => {
      const fake = new FakeChildren();
      const sup = await started(fake, flags('one_for_one'), [fake.spec('a'), fake.spec('w', restart), fake.spec('z')]);
      const w = fake.current('w');
      if (reason === 'crash') w.crash();
      else w.exitNormally(reason);
      if (restarted) await waitFor(() => fake.starts('w') === 2, 5_000, 'w restarted', 1);
      await settle();
      assert.deepEqual(fake.log, restarted ? ['exit:w', 'start:w'] : ['exit:w']);
      assert.equal(fake.starts('w'), restarted ? 2 : 1);
      const info = stateOf(sup, 'w');
      assert.equal(info.restarts, restarted ? 1 : 0);
      if (restarted) {
        assert.equal(info.state, 'running');
        assert.equal(sup.child('w'), fake.current('w'));
      } else {
        assert.equal(sup.child('w'), null);
        // a child that will not come back is not "restarting"
        assert.equal(info.state, 'stopped');
      }
      // the siblings were not touched
      assert.equal(fake.starts('a'), 1);
      assert.equal(fake.starts('z'), 1);
      await sup.stop();
      assert.deepEqual(fake.log.slice(restarted ? 2 : 1), restarted ? ['stop:z', 'stop:w', 'stop:a'] : ['stop:z', 'stop:a']);
    });
  }
});

describe('Supervisor restart intensity', () => {
  test('RestartIntensity: N restarts within the period pass, the N+1-th does not; old ones expire', () => {
    let now = 0;
    const ri = new RestartIntensity(2, 1_000, () => now);
    assert.equal(ri.add(), true);
    now = 100;
    assert.equal(ri.add(), true);
    now = 999;
    assert.equal(ri.add(), false);
    const fresh = new RestartIntensity(2, 1_000, () => now);
    now = 0;
    assert.equal(fresh.add(), true);
    now = 500;
    assert.equal(fresh.add(), true);
    now = 1_000; // the first restart (t=0) is now a whole period old
    assert.equal(fresh.add(), true);
    now = 1_400;
    assert.equal(fresh.add(), false);
    const zero = new RestartIntensity(0, 1_000, () => now);
    assert.equal(zero.add(), false);
  });

  test('intensity N: N restarts happen, the N+1-th escalates: every child stopped in reverse, onExit gets MAX_RESTART_INTENSITY', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 2, 60_000), [fake.spec('a'), fake.spec('b'), fake.spec('c')]);
    const reasons = exits(sup);
    fake.current('b').crash();
    await waitFor(() => fake.starts('b') === 2, 5_000, 'first restart', 1);
    fake.current('b').crash();
    await waitFor(() => fake.starts('b') === 3, 5_000, 'second restart', 1);
    await settle();
    assert.deepEqual(reasons, []);
    fake.log.length = 0;
    fake.current('b').crash();
    await waitFor(() => reasons.length > 0, 5_000, 'escalation', 1);
    assert.deepEqual(fake.log, ['exit:b', 'stop:c', 'stop:a']);
    assert.equal(fake.starts('b'), 3);
    assert.equal(reasons.length, 1);
    const reason: unknown = reasons[0];
    assert.ok(reason instanceof ServerError);
    assert.equal(reason.code, ErrorCode.MAX_RESTART_INTENSITY);
    assert.deepEqual(sup.whichChildren().map((c) => c.state), ['stopped', 'stopped', 'stopped']);
    // a listener linked after the exit still hears it
    const late: ExitReason[] = [];
    sup.onExit((r) => late.push(r));
    assert.deepEqual(late, [reason]);
    // stop() after escalation stops nothing more
    await sup.stop();
    assert.deepEqual(fake.log, ['exit:b', 'stop:c', 'stop:a']);
  });

  test('intensity counts restarts of every child together', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 1, 60_000), [fake.spec('a'), fake.spec('b')]);
    const reasons = exits(sup);
    fake.current('a').crash();
    await waitFor(() => fake.starts('a') === 2, 5_000, 'a restarted', 1);
    fake.current('b').crash();
    await waitFor(() => reasons.length > 0, 5_000, 'escalation', 1);
    assert.equal((reasons[0] as ServerError).code, ErrorCode.MAX_RESTART_INTENSITY);
    assert.equal(fake.starts('b'), 1);
  });

  test('intensity 0: the first crash escalates', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 0, 60_000), [fake.spec('a'), fake.spec('b')]);
    const reasons = exits(sup);
    fake.current('a').crash();
    await waitFor(() => reasons.length > 0, 5_000, 'escalation', 1);
    assert.deepEqual(fake.log, ['exit:a', 'stop:b']);
    assert.equal((reasons[0] as ServerError).code, ErrorCode.MAX_RESTART_INTENSITY);
  });

  test('restarts older than the period do not count', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 1, 30), [fake.spec('a')]);
    const reasons = exits(sup);
    fake.current('a').crash();
    await waitFor(() => fake.starts('a') === 2, 5_000, 'first restart', 1);
    await new Promise((r) => setTimeout(r, 80)); // well past the 30 ms period
    fake.current('a').crash();
    await waitFor(() => fake.starts('a') === 3, 5_000, 'second restart', 1);
    await settle();
    assert.deepEqual(reasons, []);
    assert.equal(stateOf(sup, 'a').restarts, 2);
    await sup.stop();
  });

  test('a crash exiting normally from a transient child never counts toward intensity', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 0, 60_000), [fake.spec('t', 'transient'), fake.spec('b')]);
    const reasons = exits(sup);
    fake.current('t').exitNormally();
    await settle();
    assert.deepEqual(reasons, []);
    assert.equal(sup.child('b'), fake.current('b'));
    await sup.stop();
  });

  test('a failed restart counts as a restart (and is retried)', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 3, 60_000), [fake.spec('a'), fake.spec('b')]);
    const reasons = exits(sup);
    fake.failNextStarts('b', 1);
    fake.current('b').crash();
    await waitFor(() => fake.starts('b') === 2, 5_000, 'b restarted after a failed attempt', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:b', 'startfail:b', 'start:b']);
    assert.equal(stateOf(sup, 'b').restarts, 2);
    assert.equal(stateOf(sup, 'b').state, 'running');
    assert.deepEqual(reasons, []);
    await sup.stop();
  });

  test('failed restarts exhaust the intensity and escalate', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 2, 60_000), [fake.spec('a'), fake.spec('b'), fake.spec('c')]);
    const reasons = exits(sup);
    fake.failNextStarts('b', 100);
    fake.current('b').crash();
    await waitFor(() => reasons.length > 0, 5_000, 'escalation', 1);
    // two restarts allowed, both fail; the third would exceed the intensity
    assert.deepEqual(fake.log, ['exit:b', 'startfail:b', 'startfail:b', 'stop:c', 'stop:a']);
    assert.equal((reasons[0] as ServerError).code, ErrorCode.MAX_RESTART_INTENSITY);
  });

  test('nested escalation: the child supervisor gives up and its parent restarts it', async () => {
    const fake = new FakeChildren();
    const innerStarts: Supervisor[] = [];
    const inner: ChildSpec = {
      id: 'inner',
      type: 'supervisor',
      restart: 'permanent',
      shutdown: 1_000,
      start: async () => {
        const s = await new Supervisor('inner', flags('one_for_one', 0, 60_000), [fake.spec('x'), fake.spec('y')], silentLogger).start();
        innerStarts.push(s);
        return s;
      },
    };
    const outer = await started(fake, flags('one_for_one', 5, 60_000), [fake.spec('a'), inner, fake.spec('b')]);
    const outerExits = exits(outer);
    fake.current('x').crash();
    await waitFor(() => fake.starts('y') === 2, 5_000, 'inner restarted by outer', 1);
    await settle();
    assert.deepEqual(fake.log, ['exit:x', 'stop:y', 'start:x', 'start:y']);
    assert.equal(innerStarts.length, 2);
    assert.equal(outer.child('inner'), innerStarts[1]);
    assert.deepEqual(outerExits, []);
    const tree = outer.whichChildren();
    assert.deepEqual(tree.map((c) => [c.id, c.state, c.restarts]), [['a', 'running', 0], ['inner', 'running', 1], ['b', 'running', 0]]);
    assert.deepEqual(tree[1]!.children?.map((c) => [c.id, c.state, c.restarts]), [['x', 'running', 0], ['y', 'running', 0]]);
    // a and b were not touched
    assert.equal(fake.starts('a'), 1);
    assert.equal(fake.starts('b'), 1);
    fake.log.length = 0;
    await outer.stop();
    assert.deepEqual(fake.log, ['stop:b', 'stop:y', 'stop:x', 'stop:a']);
  });

  test('nested escalation all the way up: the outer supervisor escalates in turn', async () => {
    const fake = new FakeChildren();
    const inner: ChildSpec = {
      id: 'inner',
      type: 'supervisor',
      restart: 'permanent',
      shutdown: 1_000,
      start: () => new Supervisor('inner', flags('one_for_one', 0, 60_000), [fake.spec('x')], silentLogger).start(),
    };
    const outer = await started(fake, flags('one_for_one', 1, 60_000), [fake.spec('a'), inner]);
    const outerExits = exits(outer);
    fake.current('x').crash();
    await waitFor(() => fake.starts('x') === 2, 5_000, 'inner restarted once', 1);
    fake.current('x').crash();
    await waitFor(() => outerExits.length > 0, 5_000, 'outer escalation', 1);
    assert.deepEqual(fake.log, ['exit:x', 'start:x', 'exit:x', 'stop:a']);
    assert.equal((outerExits[0] as ServerError).code, ErrorCode.MAX_RESTART_INTENSITY);
  });
});

describe('Supervisor #whichChildren', () => {
  test('counts restarts per child across several crashes', async () => {
    const fake = new FakeChildren();
    const sup = await started(fake, flags('one_for_one', 10, 60_000), [fake.spec('a'), fake.spec('b')]);
    for (let i = 2; i <= 4; i++) {
      fake.current('a').crash();
      await waitFor(() => fake.starts('a') === i, 5_000, `a restart ${i - 1}`, 1);
    }
    await settle();
    assert.deepEqual(sup.whichChildren(), [
      { id: 'a', type: 'worker', restart: 'permanent', state: 'running', restarts: 3 },
      { id: 'b', type: 'worker', restart: 'permanent', state: 'running', restarts: 0 },
    ]);
    await sup.stop();
  });

  test('a child that crashes while its later siblings are still starting is restarted', async () => {
    const fake = new FakeChildren();
    let releaseB!: () => void;
    const bGate = new Promise<void>((r) => (releaseB = r));
    const slowB: ChildSpec = {
      id: 'b',
      type: 'worker',
      restart: 'permanent',
      shutdown: 1_000,
      start: async () => {
        await bGate;
        return fake.create('b');
      },
    };
    const sup = new Supervisor('sup', flags('one_for_one'), [fake.spec('a'), slowB], silentLogger);
    const starting = sup.start();
    await waitFor(() => fake.starts('a') === 1, 5_000, 'a started', 1);
    fake.current('a').crash();
    releaseB();
    await starting;
    await waitFor(() => fake.starts('a') === 2, 5_000, 'a restarted after start() completed', 1);
    assert.equal(stateOf(sup, 'a').state, 'running');
    await sup.stop();
  });
});
