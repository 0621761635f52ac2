/**
 * The edge between the room machine and the rest of the server: what its
 * named effects do, over the room bus (the membership store and fan-out)
 * and the callback runner, and the room actor as a supervised worker. The
 * machine is provided once per server.
 */
import type { Actor } from 'xstate';
import type { ActorFactory } from '../actor-factory.js';
import { ExitLink } from '../otp/worker.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import { ServerFrames } from '../signaling/protocol.js';
import type { CallbackRunner } from './callback-runner.js';
import type { Member, RoomBus } from './room-bus.js';
import { roomMachine } from './room.machine.js';

export const usernames = (members: readonly Member[]): string[] => members.map((m) => m.username);

export type RoomActor = Actor<typeof roomMachine>;

/** Makes the room actors of one server. */
export class RoomActors {
  private readonly machine;

  constructor(
    bus: RoomBus,
    callbacks: CallbackRunner,
    private readonly actors: ActorFactory,
  ) {
    this.machine = roomMachine.provide({
      actions: {
        storeJoin: ({ context, self }, { member, requester }) => {
          const before = bus.join(context.room, member);
          self.send({ type: 'room.admitted', member, before, requester });
        },
        storeLeave: ({ context, self }, { peerId }) => {
          const out = bus.leave(context.room, peerId);
          if (out) self.send({ type: 'room.removed', member: out.member, remaining: out.remaining });
        },
        announceJoin: ({ context }, { member, before, requester }) => {
          const room = context.room;
          if (before.length === 0) callbacks.run('create', room, member.username, []);
          bus.broadcast(room, Buffer.from(ServerFrames.joined(member.peerId, member.username)), member.peerId);
          const peers = before.map((m) => ({ peer_id: m.peerId, username: m.username }));
          member.sink.deliver(Buffer.from(ServerFrames.authenticated(member.peerId, peers)));
          callbacks.run('join', room, member.username, usernames(before));
          requester.send({ type: 'room.joined' });
        },
        announceLeave: ({ context }, { member, remaining }) => {
          bus.broadcast(context.room, Buffer.from(ServerFrames.left(member.peerId, member.username)));
          callbacks.run('leave', context.room, member.username, usernames(remaining));
        },
      },
    });
  }

  /** A started room actor for `room`, supervised as a worker; `onCrash` is told if the machine fails. */
  start(room: string, onCrash: (err: Error) => void): RoomWorker {
    return new RoomWorker(this.actors.create(this.machine, { systemId: `room:${room}`, input: { room } }), onCrash);
  }
}

/** A room actor as a supervised worker. */
export class RoomWorker implements Worker {
  private readonly supervisorLink = new ExitLink();
  private stopping = false;

  constructor(
    readonly actor: RoomActor,
    onCrash: (err: Error) => void,
  ) {
    actor.subscribe({
      complete: () => this.exited('normal'),
      error: (err) => {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!this.stopping) onCrash(error);
        this.exited(error);
      },
    });
    actor.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.actor.stop();
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisorLink.onExit(listener);
  }

  /** Told to the supervisor once, unless it is the one stopping us. */
  private exited(reason: ExitReason): void {
    if (!this.stopping) this.supervisorLink.exit(reason);
  }
}
