/**
 * This server's copy of the cluster's membership (who is in which room, on
 * which server), kept from the store's ordered event stream: Redis is the
 * one source of truth, this is what reading it synchronously needs (`peers`,
 * fan-out, `unknown_peer`). Every change carries the store's sequence
 * number: members are kept in join order by it, a change already seen is
 * ignored, and a gap in the stream means the copy must be reloaded from a
 * snapshot. Pure data: no I/O.
 */

export interface RosterEntry {
  readonly peerId: string;
  readonly username: string;
  /** The server that holds the peer's socket. */
  readonly node: string;
  /** The store's sequence number of its join: members sort by it (join order). */
  readonly seq: number;
}

export type RosterEvent =
  | { s: number; t: 'j'; r: string; p: string; u: string; n: string }
  | { s: number; t: 'l'; r: string; p: string };

export interface RosterSnapshot {
  seq: number;
  rooms: { room: string; members: RosterEntry[] }[];
}

/** A change of membership one room saw: who came and who went. */
export interface RoomDiff {
  room: string;
  joined: RosterEntry[];
  left: RosterEntry[];
}

export class Roster {
  private readonly byRoom = new Map<string, RosterEntry[]>();
  private readonly roomOf = new Map<string, string>();
  /** Peers removed, by the sequence of their removal: a late join event for them is stale. */
  private readonly removedAt = new Map<string, number>();
  /** The last sequence number applied from the event stream (-1: none yet). */
  private streamSeq = -1;
  private memberCount = 0;

  /** Applies one event of the ordered stream: 'gap' when events were missed (reload a snapshot). */
  apply(event: RosterEvent): 'ok' | 'gap' {
    if (this.streamSeq >= 0 && event.s <= this.streamSeq) return 'ok'; // seen already
    if (this.streamSeq >= 0 && event.s !== this.streamSeq + 1) return 'gap';
    this.streamSeq = event.s;
    if (event.t === 'j') this.add({ peerId: event.p, username: event.u, node: event.n, seq: event.s }, event.r);
    else this.remove(event.p, event.s);
    this.forgetRemovalsUpTo(event.s);
    return 'ok';
  }

  /** A join this server made, applied at once (its event comes through the stream later). */
  added(room: string, entry: RosterEntry): void {
    this.add(entry, room);
  }

  /** A leave this server made, applied at once. */
  removed(peerId: string, seq: number): RosterEntry | null {
    return this.remove(peerId, seq);
  }

  /** Replaces everything with a snapshot; returns what changed in each room (for the members who missed it). */
  load(snapshot: RosterSnapshot): RoomDiff[] {
    const before = new Map([...this.byRoom].map(([room, members]) => [room, members] as const));
    this.byRoom.clear();
    this.roomOf.clear();
    this.removedAt.clear();
    this.memberCount = 0;
    for (const { room, members } of snapshot.rooms) {
      for (const entry of [...members].sort((a, b) => a.seq - b.seq)) this.add(entry, room);
    }
    this.streamSeq = snapshot.seq;
    const diffs: RoomDiff[] = [];
    for (const room of new Set([...before.keys(), ...this.byRoom.keys()])) {
      const was = before.get(room) ?? [];
      const now = this.byRoom.get(room) ?? [];
      const wasIds = new Set(was.map((e) => e.peerId));
      const nowIds = new Set(now.map((e) => e.peerId));
      const joined = now.filter((e) => !wasIds.has(e.peerId));
      const left = was.filter((e) => !nowIds.has(e.peerId));
      if (joined.length > 0 || left.length > 0) diffs.push({ room, joined, left });
    }
    return diffs;
  }

  /** Members of `room` in join order. */
  members(room: string): readonly RosterEntry[] {
    return this.byRoom.get(room) ?? [];
  }

  roomOfPeer(peerId: string): string | undefined {
    return this.roomOf.get(peerId);
  }

  entry(peerId: string): RosterEntry | undefined {
    const room = this.roomOf.get(peerId);
    return room === undefined ? undefined : this.byRoom.get(room)?.find((e) => e.peerId === peerId);
  }

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  counts(): { rooms: number; members: number } {
    return { rooms: this.byRoom.size, members: this.memberCount };
  }

  /** Every member held by `node`. */
  heldBy(node: string): { room: string; entry: RosterEntry }[] {
    const out: { room: string; entry: RosterEntry }[] = [];
    for (const [room, members] of this.byRoom) for (const entry of members) if (entry.node === node) out.push({ room, entry });
    return out;
  }

  get seq(): number {
    return this.streamSeq;
  }

  private add(entry: RosterEntry, room: string): void {
    if (this.roomOf.has(entry.peerId)) return; // applied already
    const removedAt = this.removedAt.get(entry.peerId);
    if (removedAt !== undefined && removedAt > entry.seq) return; // it left after this join
    let members = this.byRoom.get(room);
    if (!members) {
      members = [];
      this.byRoom.set(room, members);
    }
    let at = members.length;
    while (at > 0 && members[at - 1]!.seq > entry.seq) at--;
    members.splice(at, 0, entry);
    this.roomOf.set(entry.peerId, room);
    this.memberCount++;
  }

  private remove(peerId: string, seq: number): RosterEntry | null {
    this.removedAt.set(peerId, Math.max(seq, this.removedAt.get(peerId) ?? seq));
    const room = this.roomOf.get(peerId);
    if (room === undefined) return null;
    const members = this.byRoom.get(room)!;
    const at = members.findIndex((e) => e.peerId === peerId);
    const [entry] = members.splice(at, 1);
    this.roomOf.delete(peerId);
    this.memberCount--;
    if (members.length === 0) this.byRoom.delete(room);
    return entry ?? null;
  }

  /** Removals the stream has caught up with can no longer meet a stale join: forgotten (bounded). */
  private forgetRemovalsUpTo(seq: number): void {
    for (const [peerId, at] of this.removedAt) {
      if (at > seq) continue;
      this.removedAt.delete(peerId);
    }
  }
}
