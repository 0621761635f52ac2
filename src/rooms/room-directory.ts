/**
 * Finds or starts the room actor of a room, under the room supervisor. What
 * the room actor's named effects do is written here, over the room bus and
 * the callback runner.
 *
 * A room actor that crashes is not restarted (its state was its members):
 * its members are evicted from the bus, each is closed with 1011, and the
 * `leave` callback runs for each, so the application's bookkeeping stays
 * right. Other rooms never notice.
 */
import type { Actor } from 'xstate';
import type { Logger } from 'pino';
import type { DynamicSupervisor } from '../otp/dynamic-supervisor.js';
import type { ChildInfo, Inspectable } from '../otp/supervisor.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { NameRegistry } from '../otp/registry.js';
import type { ActorFactory } from '../actor-factory.js';
import { ServerFrames } from '../signaling/protocol.js';
import type { CallbackRunner } from './callback-runner.js';
import { ROOM_SUP_NAME } from '../names.js';
import type { Member, RoomBus } from './room-bus.js';
import { roomMachine } from './room.machine.js';
import type { JoinRequester } from './room.machine.js';


const names = (members: readonly Member[]): string[] => members.map((m) => m.username);

/**
 * The room supervisor's face: a worker (the dynamic supervisor of room
 * actors) registered under `room_sup`, through which connections join and
 * leave rooms. Stopping it stops every room and waits for pending callbacks.
 */
export class RoomDirectory implements Worker, Inspectable {
  private readonly machine;

  constructor(
    private readonly supervisor: DynamicSupervisor<RoomWorker>,
    private readonly bus: RoomBus,
    private readonly callbacks: CallbackRunner,
    private readonly actors: ActorFactory,
    private readonly logger: Logger,
    private readonly registry: NameRegistry,
  ) {
    registry.register(ROOM_SUP_NAME, this);
    this.machine = roomMachine.provide({
      actions: {
        admit: ({ context }, { member, requester }) => {
          const room = context.room;
          const before = this.bus.join(room, member);
          if (before.length === 0) this.callbacks.run('create', room, member.username, []);
          this.bus.broadcast(room, Buffer.from(ServerFrames.joined(member.peerId, member.username)), member.peerId);
          const peers = before.map((m) => ({ peer_id: m.peerId, username: m.username }));
          member.sink.deliver(Buffer.from(ServerFrames.authenticated(member.peerId, peers)));
          this.callbacks.run('join', room, member.username, names(before));
          requester.send({ type: 'room.joined' });
        },
        release: ({ context }, { peerId }) => {
          const room = context.room;
          const out = this.bus.leave(room, peerId);
          if (!out) return;
          this.bus.broadcast(room, Buffer.from(ServerFrames.left(peerId, out.member.username)));
          this.callbacks.run('leave', room, out.member.username, names(out.remaining));
        },
      },
    });
  }

  async stop(): Promise<void> {
    this.registry.unregister(ROOM_SUP_NAME, this);
    await this.supervisor.stop();
    await this.callbacks.drain();
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisor.onExit((reason) => {
      this.registry.unregister(ROOM_SUP_NAME, this);
      listener(reason);
    });
  }

  whichChildren(): ChildInfo[] {
    return this.supervisor.whichChildren();
  }

  /** Admits `member` to `room`, starting the room actor if the room is new. */
  join(room: string, member: Member, requester: JoinRequester): void {
    const worker = this.supervisor.child(room) ?? this.supervisor.startChild(room, () => this.startRoom(room));
    worker.actor.send({ type: 'room.join', member, requester });
    // The join itself crashed the room before admitting the member: it was not evicted, tell it here.
    if (worker.actor.getSnapshot().status !== 'active' && !this.bus.has(room, member.peerId)) {
      requester.send({ type: 'room.failed' });
    }
  }

  leave(room: string, peerId: string): void {
    this.supervisor.child(room)?.actor.send({ type: 'room.leave', peerId });
  }

  /** The room actor of `room`, if the room exists. */
  room(room: string): Actor<typeof roomMachine> | undefined {
    return this.supervisor.child(room)?.actor;
  }

  private startRoom(room: string): RoomWorker {
    const actor = this.actors.create(this.machine, { systemId: `room:${room}`, input: { room } });
    return new RoomWorker(actor, (err) => this.roomCrashed(room, err));
  }

  private roomCrashed(room: string, err: Error): void {
    const evicted = this.bus.evict(room);
    this.logger.error({ err, room, members: evicted.length }, 'room actor crashed: closing its members');
    for (let i = 0; i < evicted.length; i++) {
      const member = evicted[i]!;
      member.sink.evicted();
      this.callbacks.run('leave', room, member.username, names(evicted.slice(i + 1)));
    }
  }
}

/** A room actor as a supervised worker. */
export class RoomWorker implements Worker {
  private listener: ((reason: ExitReason) => void) | null = null;
  private exit: ExitReason | null = null;
  private stopping = false;

  constructor(
    readonly actor: Actor<typeof roomMachine>,
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
    this.listener = listener;
    if (this.exit !== null) listener(this.exit);
  }

  private exited(reason: ExitReason): void {
    if (this.stopping || this.exit !== null) return;
    this.exit = reason;
    this.listener?.(reason);
  }
}
