/**
 * The room actor: one per room, started when its first member authenticates
 * and done when its last member leaves. It orders the membership changes of
 * its room. Membership itself lives in one place, the room bus (the store):
 * the actor asks it to add or remove a member (`storeJoin`, `storeLeave`),
 * the store answers with what it decided (`room.admitted` with the members
 * before, `room.removed` with the members still there), and the actor then
 * announces it (`announceJoin`: `joined` to the others, `authenticated` to
 * the newcomer, the create/join callbacks, the answer to the requester;
 * `announceLeave`: `left`, the leave callback). Every effect is named and
 * provided by room.actor.ts; the machine does no I/O. Messages between
 * members do not pass through it: they fan out through the bus from the
 * sender's connection, as the original fanned out over its process group.
 * In a cluster each server has a room actor for its own members of a room;
 * it is done when the last of them leaves.
 */
import { assign, setup } from 'xstate';
import type { Member } from './room-bus.js';

/** Whoever asked to join: told `room.joined` once admitted, or `room.failed`. */
export interface JoinRequester {
  send(event: { type: 'room.joined' } | { type: 'room.failed' }): void;
}

export interface RoomInput {
  room: string;
}

export interface RoomContext {
  readonly room: string;
  /** How many members the room has (the members themselves are in the room bus). */
  readonly members: number;
}

export type RoomEvent =
  | { type: 'room.join'; member: Member; requester: JoinRequester }
  | { type: 'room.leave'; peerId: string }
  /** The store added `member` after `before` (in join order). */
  | { type: 'room.admitted'; member: Member; before: readonly Member[]; requester: JoinRequester }
  /** The store removed `member`; `remaining` are still there, in join order, `remainingHere` of them on this server. */
  | { type: 'room.removed'; member: Member; remaining: readonly Member[]; remainingHere: number }
  /** The store could not add `member` (a bug, or the store failing): the requester is told. */
  | { type: 'room.refused'; requester: JoinRequester; error: unknown };

type Admitted = Extract<RoomEvent, { type: 'room.admitted' }>;
type Removed = Extract<RoomEvent, { type: 'room.removed' }>;

export const roomMachine = setup({
  types: {
    context: {} as RoomContext,
    input: {} as RoomInput,
    events: {} as RoomEvent,
  },
  actions: {
    /** Asks the store to add the member; it answers `room.admitted`. */
    storeJoin: (_, _params: { member: Member; requester: JoinRequester }) => {},
    /** Asks the store to remove the member; it answers `room.removed` if it was there. */
    storeLeave: (_, _params: { peerId: string }) => {},
    /** `joined` to the others, `authenticated` to the newcomer, create/join callbacks, the requester answered. */
    announceJoin: (_, _params: Omit<Admitted, 'type'>) => {},
    /** `left` to the others, the leave callback. */
    announceLeave: (_, _params: Pick<Removed, 'member' | 'remaining'>) => {},
    /** The join failed in the store: the requester is told `room.failed`. */
    refuse: (_, _params: { requester: JoinRequester; error: unknown }) => {},
  },
  guards: {
    /** The room's last member on this server left: this server's room actor is done. */
    lastHere: ({ event }) => event.type === 'room.removed' && event.remainingHere === 0,
  },
}).createMachine({
  id: 'room',
  context: ({ input }) => ({ room: input.room, members: 0 }),
  initial: 'open',
  states: {
    open: {
      on: {
        'room.join': {
          actions: { type: 'storeJoin', params: ({ event }) => ({ member: event.member, requester: event.requester }) },
        },
        'room.leave': {
          actions: { type: 'storeLeave', params: ({ event }) => ({ peerId: event.peerId }) },
        },
        'room.admitted': {
          actions: [
            assign({ members: ({ event }) => event.before.length + 1 }),
            { type: 'announceJoin', params: ({ event }) => ({ member: event.member, before: event.before, requester: event.requester }) },
          ],
        },
        'room.refused': {
          actions: { type: 'refuse', params: ({ event }) => ({ requester: event.requester, error: event.error }) },
        },
        'room.removed': [
          {
            guard: 'lastHere',
            target: 'closed',
            actions: [assign({ members: ({ event }) => event.remaining.length }), { type: 'announceLeave', params: ({ event }) => ({ member: event.member, remaining: event.remaining }) }],
          },
          {
            actions: [
              assign({ members: ({ event }) => event.remaining.length }),
              { type: 'announceLeave', params: ({ event }) => ({ member: event.member, remaining: event.remaining }) },
            ],
          },
        ],
      },
    },
    closed: {
      type: 'final',
    },
  },
});
