import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setup } from 'xstate';
import type { InspectionEvent } from 'xstate';
import { ActorFactory } from '../../src/actor-factory.js';
import { ManualClock } from '../helpers/clock.js';

/** A machine that ends on `finish` and fails (its action throws) on `fail`. */
const machine = setup({
  types: { input: {} as { name: string }, context: {} as { name: string }, events: {} as { type: 'finish' } | { type: 'fail' } },
  actions: {
    explode: () => {
      throw new Error('boom');
    },
  },
}).createMachine({
  context: ({ input }) => ({ name: input.name }),
  initial: 'on',
  states: {
    on: { on: { finish: 'done', fail: { actions: 'explode' } } },
    done: { type: 'final' },
  },
});

const fail = (err: unknown) => assert.fail(`unexpected actor error: ${String(err)}`);

describe('ActorFactory', () => {
  test('#createShared: without an inspector, actors share one system, each with its systemId as its id', () => {
    const factory = new ActorFactory(new ManualClock());
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' }, onError: fail }).start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' }, onError: fail }).start();
    assert.equal(a.system, b.system);
    assert.equal(b.id, 'connection:b');
    assert.equal(a.system.get('connection:b'), undefined, 'not registered in the system (no system-wide WeakMap entry)');
    const room = factory.create(machine, { systemId: 'room:r', input: { name: 'r' } }).start();
    assert.notEqual(room.system, a.system, 'a root actor has a system of its own');
  });

  test('#createShared: an actor that ends or fails is forgotten (its id free again) and leaves the others running', () => {
    const factory = new ActorFactory(new ManualClock());
    const errors: unknown[] = [];
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' }, onError: (err) => errors.push(err) }).start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' }, onError: fail }).start();
    a.send({ type: 'fail' });
    assert.equal(a.getSnapshot().status, 'error');
    assert.deepEqual(errors.map((e) => (e as Error).message), ['boom']);
    b.send({ type: 'finish' });
    assert.equal(b.getSnapshot().status, 'done');
    // The same ids again: nothing of the ended actors is left behind, and the host still takes children.
    const again = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a2' }, onError: fail }).start();
    assert.equal(again.getSnapshot().status, 'active');
    assert.equal(again.system, b.system);
  });

  test('#createShared: with an inspector, each actor is a root of its own system and is inspected', () => {
    const seen: string[] = [];
    const inspect = (event: InspectionEvent) => {
      if (event.type === '@xstate.actor') seen.push((event.actorRef as { options?: { systemId?: string } }).options?.systemId ?? '?');
    };
    const factory = new ActorFactory(new ManualClock(), inspect);
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' }, onError: fail }).start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' }, onError: fail }).start();
    assert.notEqual(a.system, b.system);
    assert.equal((a as unknown as { _parent?: unknown })._parent, undefined);
    assert.deepEqual(seen, ['connection:a', 'connection:b']);
  });

  test('#createShared: an onError that throws does not fail the host; servers do not share listeners', () => {
    const reported: unknown[] = [];
    const factory = new ActorFactory(new ManualClock(), undefined, (err) => reported.push(err));
    const other = new ActorFactory(new ManualClock());
    const told: string[] = [];
    const a = factory.createShared(machine, {
      systemId: 'connection:a',
      input: { name: 'a' },
      onError: () => {
        told.push('a');
        throw new Error('listener bug');
      },
    }).start();
    const twin = other.createShared(machine, { systemId: 'connection:a', input: { name: 'a' }, onError: () => told.push('twin') }).start();
    a.send({ type: 'fail' });
    assert.deepEqual(told, ['a']);
    assert.deepEqual(reported.map((e) => (e as Error).message), ['listener bug']);
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' }, onError: () => told.push('b') }).start();
    b.send({ type: 'fail' });
    twin.send({ type: 'fail' });
    assert.deepEqual(told, ['a', 'b', 'twin']);
  });
});
