/**
 * The room supervisor's face (registered as `room_sup`): connections join
 * and leave rooms through it. It finds or starts the room actor of a room,
 * under the dynamic supervisor of room actors, and hands it the request.
 * Stopping it stops every room and waits for pending callbacks.
 *
 * A room actor that crashes is not restarted (its state was its members):
 * its members are evicted from the bus, each is closed with 1011, and the
 * `leave` callback runs for each, so the application's bookkeeping stays
 * right. Other rooms never notice.
 */
import type { Logger } from 'pino';
import { ROOM_SUP_NAME } from '../names.js';
import type { DynamicSupervisor } from '../otp/dynamic-supervisor.js';
import type { NameRegistry } from '../otp/registry.js';
import type { ChildInfo, Inspectable } from '../otp/supervisor.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { CallbackRunner } from './callback-runner.js';
import type { Member, RoomBus } from './room-bus.js';
import { usernames } from './room.actor.js';
import type { RoomActors, RoomWorker } from './room.actor.js';
import type { JoinRequester } from './room.machine.js';

export class RoomDirectory implements Worker, Inspectable {
  constructor(
    private readonly supervisor: DynamicSupervisor<RoomWorker>,
    private readonly rooms: RoomActors,
    private readonly bus: RoomBus,
    private readonly callbacks: CallbackRunner,
    private readonly logger: Logger,
    private readonly registry: NameRegistry,
  ) {
    registry.register(ROOM_SUP_NAME, this);
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
    const worker = this.supervisor.child(room) ?? this.supervisor.startChild(room, () => this.rooms.start(room, (err) => this.roomCrashed(room, err)));
    worker.actor.send({ type: 'room.join', member, requester });
    // The join itself crashed the room before admitting the member: it was not evicted, tell it here.
    if (worker.actor.getSnapshot().status !== 'active' && !this.bus.has(room, member.peerId)) {
      requester.send({ type: 'room.failed' });
    }
  }

  leave(room: string, peerId: string): void {
    this.supervisor.child(room)?.actor.send({ type: 'room.leave', peerId });
  }

  private roomCrashed(room: string, err: Error): void {
    const evicted = this.bus.evict(room);
    this.logger.error({ err, room, members: evicted.length }, 'room actor crashed: closing its members');
    for (let i = 0; i < evicted.length; i++) {
      const member = evicted[i]!;
      member.sink.evicted();
      this.callbacks.run('leave', room, member.username, usernames(evicted.slice(i + 1)));
    }
  }
}
