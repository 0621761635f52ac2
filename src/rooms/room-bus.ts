/**
 * The room bus: room membership (the one store of who is in which room) and
 * fan-out, behind one seam. Room actors change membership through it;
 * connections fan their frames out through it. `LocalRoomBus` keeps
 * everything in this process; `ClusterRoomBus` (src/cluster) keeps
 * membership in Redis and fans out across servers. Changing membership may
 * be async (a remote store); reading it and fanning out are not.
 */

/** Where frames for one member go. Called on the hot path: must not throw. */
export interface MemberSink {
  /** Delivers a frame already serialized once for every recipient. */
  deliver(frame: Buffer): void;
  /** The member's room failed and dropped it: the member must go. */
  evicted(): void;
}

export interface Member {
  readonly peerId: string;
  readonly username: string;
  readonly sink: MemberSink;
}

/** What a leave did: the member, the members still in the room (join order), how many of them are on this server. */
export interface Departure {
  member: Member;
  remaining: Member[];
  remainingHere: number;
}

export interface RoomBus {
  /** Adds `member` (on this server) to `room`; returns the members that were there before, in join order. */
  join(room: string, member: Member): Member[] | Promise<Member[]>;
  /** Removes a member; returns what it did, or null if it was not there. */
  leave(room: string, peerId: string): Departure | null | Promise<Departure | null>;
  /** Members of `room` in join order ([] for an unknown room). */
  members(room: string): Member[];
  /** True when `peerId` is a member of `room`. */
  has(room: string, peerId: string): boolean;
  /** Names of the rooms that have members. */
  rooms(): string[];
  /** How many rooms have members, and members in all: O(1), for metrics. */
  counts(): { rooms: number; members: number };
  /** Sends `frame` to every member of `room` except `exceptPeerId`; returns how many got it. */
  broadcast(room: string, frame: Buffer, exceptPeerId?: string): number;
  /** Sends `frame` to one member of `room`; false if no such member there. */
  unicast(room: string, toPeerId: string, frame: Buffer): boolean;
  /** Sends `frame` to a member of any room; false if unknown. */
  sendToPeer(peerId: string, frame: Buffer): boolean;
  /** Removes every member of `room` on this server (its room actor failed); returns them in join order. */
  evict(room: string): Member[];
  /** A peer held by another server: asks that server to kick it. False if no other server holds it. */
  kickElsewhere(peerId: string): boolean;
}

export class LocalRoomBus implements RoomBus {
  private readonly byRoom = new Map<string, Map<string, Member>>();
  private readonly roomOf = new Map<string, string>();
  private memberCount = 0;

  join(room: string, member: Member): Member[] {
    let members = this.byRoom.get(room);
    if (!members) {
      members = new Map();
      this.byRoom.set(room, members);
    }
    const before = [...members.values()];
    if (!members.has(member.peerId)) this.memberCount++;
    members.set(member.peerId, member);
    this.roomOf.set(member.peerId, room);
    return before;
  }

  leave(room: string, peerId: string): Departure | null {
    const members = this.byRoom.get(room);
    const member = members?.get(peerId);
    if (!members || !member) return null;
    members.delete(peerId);
    this.memberCount--;
    this.roomOf.delete(peerId);
    if (members.size === 0) this.byRoom.delete(room);
    return { member, remaining: [...members.values()], remainingHere: members.size };
  }

  members(room: string): Member[] {
    const members = this.byRoom.get(room);
    return members ? [...members.values()] : [];
  }

  has(room: string, peerId: string): boolean {
    return this.byRoom.get(room)?.has(peerId) ?? false;
  }

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  counts(): { rooms: number; members: number } {
    return { rooms: this.byRoom.size, members: this.memberCount };
  }

  broadcast(room: string, frame: Buffer, exceptPeerId?: string): number {
    const members = this.byRoom.get(room);
    if (!members) return 0;
    let sent = 0;
    for (const member of members.values()) {
      if (member.peerId === exceptPeerId) continue;
      member.sink.deliver(frame);
      sent++;
    }
    return sent;
  }

  unicast(room: string, toPeerId: string, frame: Buffer): boolean {
    const member = this.byRoom.get(room)?.get(toPeerId);
    if (!member) return false;
    member.sink.deliver(frame);
    return true;
  }

  sendToPeer(peerId: string, frame: Buffer): boolean {
    const room = this.roomOf.get(peerId);
    return room !== undefined && this.unicast(room, peerId, frame);
  }

  kickElsewhere(_peerId: string): boolean {
    return false; // one server: every peer is here
  }

  evict(room: string): Member[] {
    const members = this.byRoom.get(room);
    if (!members) return [];
    this.byRoom.delete(room);
    this.memberCount -= members.size;
    for (const peerId of members.keys()) this.roomOf.delete(peerId);
    return [...members.values()];
  }
}
