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

describe('ActorFactory', () => {
  test('#createShared: without an inspector, actors share one system and are found there by systemId', () => {
    const factory = new ActorFactory(new ManualClock());
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' } }).start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' } }).start();
    assert.equal(a.system, b.system);
    assert.equal(a.system.get('connection:b'), b);
    const room = factory.create(machine, { systemId: 'room:r', input: { name: 'r' } }).start();
    assert.notEqual(room.system, a.system, 'a root actor has a system of its own');
  });

  test('#createShared: an actor that ends or fails frees its systemId and leaves the others running', () => {
    const factory = new ActorFactory(new ManualClock());
    const errors: unknown[] = [];
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' } });
    a.subscribe({ error: (err) => errors.push(err) });
    a.start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' } }).start();
    a.send({ type: 'fail' });
    assert.equal(a.getSnapshot().status, 'error');
    assert.equal((errors[0] as Error).message, 'boom');
    b.send({ type: 'finish' });
    assert.equal(b.getSnapshot().status, 'done');
    assert.equal(a.system.get('connection:a'), undefined);
    assert.equal(a.system.get('connection:b'), undefined);
    // The same ids again: nothing of the ended actors is left behind, and the host still takes children.
    const again = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a2' } }).start();
    assert.equal(again.getSnapshot().status, 'active');
    assert.equal(again.system, b.system);
  });

  test('#createShared: with an inspector, each actor is a root of its own system and is inspected', () => {
    const seen: string[] = [];
    const inspect = (event: InspectionEvent) => {
      if (event.type === '@xstate.actor') seen.push((event.actorRef as { options?: { systemId?: string } }).options?.systemId ?? '?');
    };
    const factory = new ActorFactory(new ManualClock(), inspect);
    const a = factory.createShared(machine, { systemId: 'connection:a', input: { name: 'a' } }).start();
    const b = factory.createShared(machine, { systemId: 'connection:b', input: { name: 'b' } }).start();
    assert.notEqual(a.system, b.system);
    assert.equal((a as unknown as { _parent?: unknown })._parent, undefined);
    assert.deepEqual(seen, ['connection:a', 'connection:b']);
  });
});
