/**
 * The room bus of a cluster (`redisUrl`): rooms span every server that names
 * the same Redis. Membership lives in Redis, changed by atomic scripts
 * (scripts.ts) and replicated to every server in one order (roster.ts), so
 * reading it stays synchronous. Frames go to this server's members directly
 * and to other servers' members over Redis pub/sub: one publish per
 * broadcast, whatever the number of servers; a unicast goes to the node
 * that holds the peer. Frames from one sender keep their order: they leave
 * through one connection.
 *
 * When Redis is away this server goes on alone: its own members keep
 * talking to each other and may still join and leave; when Redis is back
 * the store is made to agree with what this server holds, the roster is
 * reloaded, and every member is told what it missed (`joined`, `left`).
 */
import type { Logger } from 'pino';
import type { CallbackRunner } from '../rooms/callback-runner.js';
import type { Departure, Member, MemberSink, RoomBus } from '../rooms/room-bus.js';
import { ServerFrames } from '../signaling/protocol.js';
import { RedisLink } from './redis-link.js';
import type { LinkEvents } from './redis-link.js';
import { Roster } from './roster.js';
import type { ClusterTiming } from './timing.js';
import type { RosterEntry, RosterEvent } from './roster.js';

export interface ClusterOptions {
  redisUrl: string;
  /** This server's name in the cluster (a fresh one per start by default). */
  node: string;
  /** Prefix of every Redis key and channel. */
  prefix: string;
  logger: Logger;
  callbacks: CallbackRunner;
  /** How often this node says it is alive, and after how long a silent node is dead. */
  timing: ClusterTiming;
  /** Told of members reaped and of resyncs (metrics). */
  counted?: { reaped(members: number): void; resynced(): void };
  /** Kicks a peer this server holds (the admin API of another server asked for it). */
  kick: (peerId: string) => boolean;
}

/** A membership change as the scripts return it: [seq, room, peer, username, node, remaining]. */
type RawDeparture = [number, string, string, string, string, RawEntry[]];
/** A member as the scripts return it: [peer, username, node, seq]. */
type RawEntry = [string, string, string, number];

const NOTHING_TO_SEND: MemberSink = { deliver: () => {}, evicted: () => {} };

/** Events held during a resync before it starts over instead (bounded). */
const MAX_HELD_EVENTS = 10_000;

/** Sequence numbers for changes made while Redis is away: after every real one, in order. */
const OFFLINE_SEQ_BASE = 2 ** 50;

export class ClusterRoomBus implements RoomBus {
  readonly roster = new Roster();
  /** This server's members, by peer id. */
  private readonly local = new Map<string, Member>();
  private readonly link: RedisLink;
  private offlineSeq = OFFLINE_SEQ_BASE;
  /** Membership changed while Redis was away: the store must be made to agree when it is back. */
  private resyncing: Promise<void> | null = null;
  private resyncAgain = false;
  /** How the first agreement with the store goes: at start, this node's ghosts get their `leave` callback. */
  private started = false;
  private upSince: number | null = null;
  /** Membership events that arrived while a snapshot was being taken. */
  private readonly heldEvents: RosterEvent[] = [];
  private readonly logger: Logger;

  constructor(private readonly options: ClusterOptions) {
    this.logger = options.logger.child({ component: 'cluster', node: options.node });
    const events: LinkEvents = {
      up: () => {
        this.upSince = performance.now();
        this.logger.info('cluster: Redis reachable');
        this.resync();
      },
      down: () => {
        this.upSince = null;
        this.logger.warn('cluster: Redis unreachable; serving this server\'s members alone until it is back');
      },
      event: (event) => this.applyEvent(event as RosterEvent),
      roomFrame: (room, origin, except, frame) => {
        if (origin !== options.node) this.deliverHere(room, frame, except);
      },
      peerFrame: (peerId, frame) => this.local.get(peerId)?.sink.deliver(frame),
      kick: (peerId) => void options.kick(peerId),
    };
    this.link = new RedisLink(options.redisUrl, options.prefix, options.node, events, this.logger);
  }

  get timing(): ClusterTiming {
    return this.options.timing;
  }

  get node(): string {
    return this.options.node;
  }

  /** True while Redis is reachable and the roster agrees with it (for /readyz). */
  get up(): boolean {
    return this.link.up && this.resyncing === null;
  }

  /** Ms since Redis became reachable (null while it is not). */
  upFor(): number | null {
    return this.upSince === null ? null : performance.now() - this.upSince;
  }

  connect(): void {
    this.link.connect();
  }

  /** Leaves the cluster: this node's members are removed from the store, then the connections close. */
  async close(): Promise<void> {
    if (this.link.up) await this.link.deregister().catch((err: unknown) => this.logger.warn({ err }, 'cluster: deregister failed'));
    await this.link.close();
  }

  heartbeat(): Promise<unknown> {
    return this.link.heartbeat();
  }

  /**
   * Removes the members of nodes whose heartbeat is older than `expiryMs`:
   * their rooms get `left` and the `leave` callback runs once, here (the
   * store gives each departure to one caller only).
   */
  async reap(expiryMs: number): Promise<number> {
    const departures = (await this.link.reap(expiryMs)) as RawDeparture[];
    for (const d of departures) this.departedElsewhere(d, true);
    if (departures.length > 0) {
      this.options.counted?.reaped(departures.length);
      this.logger.info({ members: departures.length }, 'cluster: members of a dead server removed');
    }
    return departures.length;
  }

  // ------------------------------------------------------------ RoomBus

  async join(room: string, member: Member): Promise<Member[]> {
    this.local.set(member.peerId, member);
    if (this.link.up) {
      try {
        await this.link.watchRoom(room);
        const [seq, before] = (await this.link.join(room, member.peerId, member.username)) as [number, RawEntry[]];
        this.roster.added(room, { peerId: member.peerId, username: member.username, node: this.node, seq });
        return before.map((raw) => this.member(entryOf(raw)));
      } catch (err) {
        this.logger.warn({ err, room }, 'cluster: join not recorded in Redis; recorded here until it is back');
      }
    }
    void this.link.watchRoom(room);
    const before = this.roster.members(room).map((e) => this.member(e));
    this.roster.added(room, { peerId: member.peerId, username: member.username, node: this.node, seq: this.offlineSeq++ });
    return before;
  }

  async leave(room: string, peerId: string): Promise<Departure | null> {
    const member = this.local.get(peerId);
    if (!member || this.roster.roomOfPeer(peerId) !== room) return null;
    this.local.delete(peerId);
    let departure: Departure | null = null;
    if (this.link.up) {
      try {
        const raw = (await this.link.leave(peerId)) as RawDeparture | null;
        if (raw) {
          this.roster.removed(peerId, raw[0]);
          const remaining = raw[5].map((r) => this.member(entryOf(r)));
          departure = { member, remaining, remainingHere: remaining.filter((m) => this.local.has(m.peerId)).length };
        }
      } catch (err) {
        this.logger.warn({ err, room }, 'cluster: leave not recorded in Redis; recorded here until it is back');
      }
    }
    if (!departure) {
      this.roster.removed(peerId, this.offlineSeq++);
      const remaining = this.roster.members(room).map((e) => this.member(e));
      departure = { member, remaining, remainingHere: remaining.filter((m) => this.local.has(m.peerId)).length };
    }
    if (departure.remainingHere === 0) this.link.unwatchRoom(room);
    return departure;
  }

  members(room: string): Member[] {
    return this.roster.members(room).map((e) => this.member(e));
  }

  has(room: string, peerId: string): boolean {
    return this.roster.roomOfPeer(peerId) === room;
  }

  rooms(): string[] {
    return this.roster.rooms();
  }

  counts(): { rooms: number; members: number } {
    return this.roster.counts();
  }

  broadcast(room: string, frame: Buffer, exceptPeerId?: string): number {
    let recipients = 0;
    let elsewhere = false;
    for (const entry of this.roster.members(room)) {
      if (entry.peerId === exceptPeerId) continue;
      recipients++;
      const here = this.local.get(entry.peerId);
      if (here) here.sink.deliver(frame);
      else elsewhere = true;
    }
    if (elsewhere) this.link.publishRoom(room, exceptPeerId ?? '', frame);
    return recipients;
  }

  unicast(room: string, toPeerId: string, frame: Buffer): boolean {
    if (this.roster.roomOfPeer(toPeerId) !== room) return false;
    return this.sendToPeer(toPeerId, frame);
  }

  sendToPeer(peerId: string, frame: Buffer): boolean {
    const here = this.local.get(peerId);
    if (here) {
      here.sink.deliver(frame);
      return true;
    }
    const entry = this.roster.entry(peerId);
    if (!entry) return false;
    this.link.publishPeer(entry.node, peerId, frame);
    return true;
  }

  kickElsewhere(peerId: string): boolean {
    const entry = this.roster.entry(peerId);
    if (!entry || entry.node === this.node) return false;
    this.link.publishKick(entry.node, peerId);
    return true;
  }

  /** This server's members of `room` (its room actor failed): removed here and from Redis. */
  evict(room: string): Member[] {
    const evicted: Member[] = [];
    for (const entry of [...this.roster.members(room)]) {
      const member = this.local.get(entry.peerId);
      if (!member) continue;
      evicted.push(member);
      this.local.delete(entry.peerId);
      this.roster.removed(entry.peerId, this.offlineSeq++);
      if (this.link.up) this.link.leave(entry.peerId).catch(() => (this.resyncAgain = true));
    }
    this.link.unwatchRoom(room);
    return evicted;
  }

  // ------------------------------------------------------------ from Redis

  private member(entry: RosterEntry): Member {
    return this.local.get(entry.peerId) ?? { peerId: entry.peerId, username: entry.username, sink: NOTHING_TO_SEND };
  }

  /** A frame for a room from another server: to this server's members of it. */
  private deliverHere(room: string, frame: Buffer, except: string): void {
    for (const entry of this.roster.members(room)) {
      if (entry.peerId === except) continue;
      this.local.get(entry.peerId)?.sink.deliver(frame);
    }
  }

  private applyEvent(event: RosterEvent): void {
    if (this.resyncing) {
      // Kept until the snapshot is loaded; those it already covers are then skipped.
      if (this.heldEvents.length < MAX_HELD_EVENTS) this.heldEvents.push(event);
      else this.resyncAgain = true;
      return;
    }
    if (this.roster.apply(event) === 'gap') {
      this.logger.warn({ seq: event.s, had: this.roster.seq }, 'cluster: membership events missed; reloading');
      this.resync();
    }
  }

  /** A member of another server left (reaped, or a ghost of this node's past): its room hears `left`. */
  private departedElsewhere(raw: RawDeparture, runCallback: boolean): void {
    const [seq, room, peerId, username, , remaining] = raw;
    this.roster.removed(peerId, seq);
    this.broadcast(room, Buffer.from(ServerFrames.left(peerId, username)));
    if (runCallback) this.options.callbacks.run('leave', room, username, remaining.map((r) => r[1]));
  }

  /** Makes Redis agree with this server, reloads the roster, tells members what they missed. Serialized. */
  private resync(): void {
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        try {
          await this.agree();
        } catch (err) {
          this.logger.warn({ err }, 'cluster: resync failed; retrying when Redis is back');
          return;
        }
      } while (this.resyncAgain && this.link.up);
    })().finally(() => {
      this.resyncing = null;
    });
  }

  private async agree(): Promise<void> {
    this.options.counted?.resynced();
    const held: [string, string, string][] = [];
    for (const room of this.roster.rooms()) {
      for (const entry of this.roster.members(room)) if (this.local.has(entry.peerId)) held.push([entry.peerId, room, entry.username]);
    }
    const [departures, joins] = (await this.link.syncNode(held)) as [RawDeparture[], [number, string, string, string, RawEntry[]][]];
    const firstTime = !this.started;
    this.started = true;
    // Ghosts of this node in the store: their sockets are gone. At start their `leave` never ran.
    for (const d of departures) {
      this.roster.removed(d[2], d[0]);
      this.link.publishRoom(d[1], '', Buffer.from(ServerFrames.left(d[2], d[3])));
      if (firstTime) this.options.callbacks.run('leave', d[1], d[3], d[5].map((r) => r[1]));
    }
    // Members who joined here while Redis was away: the other servers' members hear of them now.
    for (const [, room, peerId, username] of joins) this.link.publishRoom(room, '', Buffer.from(ServerFrames.joined(peerId, username)));
    const [seq, rooms] = (await this.link.snapshot()) as [number, [string, RawEntry[]][]];
    const diffs = this.roster.load({ seq, rooms: rooms.map(([room, members]) => ({ room, members: members.map(entryOf) })) });
    for (const event of this.heldEvents.splice(0)) {
      if (event.s > seq && this.roster.apply(event) === 'gap') this.resyncAgain = true;
    }
    // What this server's members missed of the others while Redis was away.
    for (const { room, joined, left } of diffs) {
      for (const entry of joined) if (!this.local.has(entry.peerId)) this.deliverHere(room, Buffer.from(ServerFrames.joined(entry.peerId, entry.username)), '');
      for (const entry of left) if (!this.local.has(entry.peerId)) this.deliverHere(room, Buffer.from(ServerFrames.left(entry.peerId, entry.username)), '');
    }
    for (const room of this.roster.rooms()) {
      if (this.roster.members(room).some((e) => this.local.has(e.peerId))) await this.link.watchRoom(room);
    }
  }
}

function entryOf(raw: RawEntry): RosterEntry {
  return { peerId: raw[0], username: raw[1], node: raw[2], seq: Number(raw[3]) };
}
