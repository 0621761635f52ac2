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
import type { Departure, Member, RoomBus } from './room-bus.js';
import type { Logger } from 'pino';
import { roomMachine } from './room.machine.js';

export const usernames = (members: readonly Member[]): string[] => members.map((m) => m.username);

export type RoomActor = Actor<typeof roomMachine>;

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Makes the room actors of one server. */
export class RoomActors {
  private readonly machine;

  constructor(
    bus: RoomBus,
    callbacks: CallbackRunner,
    private readonly actors: ActorFactory,
    logger: Logger,
  ) {
    this.machine = roomMachine.provide({
      actions: {
        // A store that answers at once (in process) answers within this step, so a fault in it
        // fails the room actor as before; a remote store answers later, as an event.
        storeJoin: ({ context, self }, { member, requester }) => {
          const admitted = (before: Member[]) => self.send({ type: 'room.admitted', member, before, requester });
          const before = bus.join(context.room, member);
          if (isPromise(before)) before.then(admitted, (error: unknown) => self.send({ type: 'room.refused', requester, error }));
          else admitted(before);
        },
        storeLeave: ({ context, self }, { peerId }) => {
          const removed = (out: Departure | null) => {
            if (out) self.send({ type: 'room.removed', ...out });
          };
          const out = bus.leave(context.room, peerId);
          if (isPromise(out)) out.then(removed, (err: unknown) => logger.error({ err, room: context.room, peer_id: peerId }, 'leave not recorded by the room bus'));
          else removed(out);
        },
        refuse: ({ context }, { requester, error }) => {
          logger.error({ err: error, room: context.room }, 'join not recorded by the room bus');
          requester.send({ type: 'room.failed' });
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
