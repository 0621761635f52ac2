/**
 * The room actor: one per room, started when its first member authenticates
 * and done when its last member leaves. It orders every membership change of
 * its room: `admit` (joined to the others, authenticated to the newcomer,
 * create/join callbacks) and `release` (left to the others, leave callback)
 * are named effects that `room-directory.ts` provides over the room bus.
 * Messages between members do not pass through it: they fan out through the
 * bus from the sender's connection, as the original fanned out over its
 * process group.
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
  /** This node's members in join order (what the inspector and admin show). */
  readonly members: readonly { readonly peerId: string; readonly username: string }[];
}

export type RoomEvent =
  | { type: 'room.join'; member: Member; requester: JoinRequester }
  | { type: 'room.leave'; peerId: string };

export const roomMachine = setup({
  types: {
    context: {} as RoomContext,
    input: {} as RoomInput,
    events: {} as RoomEvent,
  },
  actions: {
    /** Adds the member to the room bus, announces it, runs create/join, answers the requester. */
    admit: (_, _params: { member: Member; requester: JoinRequester }) => {},
    /** Removes the member from the room bus, announces it, runs leave. */
    release: (_, _params: { peerId: string }) => {},
    addMember: assign({
      members: ({ context, event }) =>
        event.type === 'room.join'
          ? [...context.members, { peerId: event.member.peerId, username: event.member.username }]
          : context.members,
    }),
    removeMember: assign({
      members: ({ context, event }) =>
        event.type === 'room.leave' ? context.members.filter((m) => m.peerId !== event.peerId) : context.members,
    }),
  },
  guards: {
    isMember: ({ context, event }) => event.type === 'room.leave' && context.members.some((m) => m.peerId === event.peerId),
    isLastMember: ({ context, event }) =>
      event.type === 'room.leave' && context.members.length === 1 && context.members[0]!.peerId === event.peerId,
  },
}).createMachine({
  id: 'room',
  context: ({ input }) => ({ room: input.room, members: [] }),
  initial: 'open',
  states: {
    open: {
      on: {
        'room.join': {
          actions: ['addMember', { type: 'admit', params: ({ event }) => ({ member: event.member, requester: event.requester }) }],
        },
        'room.leave': [
          {
            guard: 'isLastMember',
            target: 'closed',
            actions: ['removeMember', { type: 'release', params: ({ event }) => ({ peerId: event.peerId }) }],
          },
          {
            guard: 'isMember',
            actions: ['removeMember', { type: 'release', params: ({ event }) => ({ peerId: event.peerId }) }],
          },
        ],
      },
    },
    closed: {
      type: 'final',
    },
  },
});
