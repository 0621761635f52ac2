import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { ManualClock } from '../helpers/clock.js';
import { roomMachine } from '../../src/rooms/room.machine.js';
import type { JoinRequester } from '../../src/rooms/room.machine.js';
import { LocalRoomBus } from '../../src/rooms/room-bus.js';
import type { Member } from '../../src/rooms/room-bus.js';

function member(peerId: string, username = peerId): Member {
  return { peerId, username, sink: { deliver: () => {}, evicted: () => {} } };
}

/**
 * A room actor whose store is a real LocalRoomBus (the one source of
 * membership); its announcements are recorded.
 */
function room(name = 'r') {
  const log: string[] = [];
  const bus = new LocalRoomBus();
  const requesters = new Map<string, JoinRequester>();
  const machine = roomMachine.provide({
    actions: {
      storeJoin: ({ context, self }, { member: m, requester }) => {
        self.send({ type: 'room.admitted', member: m, before: bus.join(context.room, m), requester });
      },
      storeLeave: ({ context, self }, { peerId }) => {
        const out = bus.leave(context.room, peerId);
        if (out) self.send({ type: 'room.removed', ...out });
      },
      announceJoin: ({ context }, { member: m, requester }) => {
        log.push(`admit:${context.room}:${m.peerId}:${m.username}`);
        assert.equal(requester, requesters.get(m.peerId));
      },
      announceLeave: ({ context }, { member: m }) => {
        log.push(`release:${context.room}:${m.peerId}`);
      },
    },
  });
  const actor = createActor(machine, { input: { room: name }, clock: new ManualClock() });
  actor.start();
  const join = (peerId: string, username = peerId) => {
    const requester: JoinRequester = { send: () => {} };
    requesters.set(peerId, requester);
    actor.send({ type: 'room.join', member: member(peerId, username), requester });
  };
  const leave = (peerId: string) => actor.send({ type: 'room.leave', peerId });
  const members = () => bus.members(name).map((m) => `${m.peerId}:${m.username}`);
  return { actor, log, join, leave, members };
}

describe('room machine', () => {
  test('starts open with the room name and no members', () => {
    const { actor, log } = room('lobby');
    const snap = actor.getSnapshot();
    assert.equal(snap.value, 'open');
    assert.equal(snap.context.room, 'lobby');
    assert.equal(snap.context.members, 0);
    assert.deepEqual(log, []);
  });

  test('room.join admits each member once, in join order, with its requester', () => {
    const { log, join, members } = room('lobby');
    join('p1', 'alice');
    join('p2', 'bob');
    join('p3', 'alice'); // usernames need not be unique
    assert.deepEqual(log, ['admit:lobby:p1:alice', 'admit:lobby:p2:bob', 'admit:lobby:p3:alice']);
    assert.deepEqual(members(), ['p1:alice', 'p2:bob', 'p3:alice']);
  });

  test('room.leave of a member releases it and keeps the order of the others', () => {
    const { actor, log, join, leave, members } = room();
    join('p1');
    join('p2');
    join('p3');
    log.length = 0;
    leave('p2');
    assert.deepEqual(log, ['release:r:p2']);
    assert.deepEqual(members(), ['p1:p1', 'p3:p3']);
    assert.equal(actor.getSnapshot().value, 'open');
  });

  test('room.leave of a non-member does nothing', () => {
    const { actor, log, join, leave, members } = room();
    join('p1');
    log.length = 0;
    leave('ghost');
    leave('ghost');
    assert.deepEqual(log, []);
    assert.deepEqual(members(), ['p1:p1']);
    assert.equal(actor.getSnapshot().status, 'active');
  });

  test('a second leave of the same member does nothing', () => {
    const { log, join, leave } = room();
    join('p1');
    join('p2');
    leave('p1');
    leave('p1');
    assert.deepEqual(log.filter((l) => l.startsWith('release')), ['release:r:p1']);
  });

  test('the last member leaving releases it and the room is done', () => {
    const { actor, log, join, leave, members } = room();
    join('p1');
    join('p2');
    leave('p1');
    leave('p2');
    assert.deepEqual(log, ['admit:r:p1:p1', 'admit:r:p2:p2', 'release:r:p1', 'release:r:p2']);
    assert.deepEqual(members(), []);
    assert.equal(actor.getSnapshot().value, 'closed');
    assert.equal(actor.getSnapshot().status, 'done');
  });

  test('once done, events are ignored', () => {
    const { actor, log, join, leave } = room();
    join('p1');
    leave('p1');
    log.length = 0;
    join('p2');
    leave('p2');
    assert.deepEqual(log, []);
    assert.equal(actor.getSnapshot().status, 'done');
  });

  test('a member leaving when another member with the same username stays', () => {
    const { log, join, leave, members } = room();
    join('p1', 'alice');
    join('p2', 'alice');
    leave('p1');
    assert.deepEqual(members(), ['p2:alice']);
    assert.equal(log.at(-1), 'release:r:p1');
  });
});
