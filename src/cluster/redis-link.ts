/**
 * This server's connections to the cluster's Redis (ioredis): one for
 * commands and publishing, one for subscriptions. They reconnect by
 * themselves with backoff; while either is down the link is `down` and
 * commands fail at once (no offline queue: nothing piles up while Redis is
 * away). The link runs the membership scripts (scripts.ts) and carries the
 * three kinds of pub/sub traffic:
 *
 *   <prefix>events      membership changes, JSON (roster.ts)
 *   <prefix>r:<room>    frames for a room (each but for one member)
 *   <prefix>n:<node>    unicasts and kicks for one node's peers
 *
 * Frames for rooms and nodes are gathered per event-loop turn, several to a
 * PUBLISH where order allows, written at once (publish-batcher.ts).
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { decodeBatch, PublishBatcher } from './publish-batcher.js';
import type { ChannelKind, FrameRecord } from './publish-batcher.js';
import { DEREGISTER, HEARTBEAT, JOIN, LEAVE, REAP, SNAPSHOT, SYNC_NODE } from './scripts.js';

/** How long a command may take before it fails (the store is then treated as away). */
const COMMAND_TIMEOUT_MS = 2_000;
/** Reconnection backoff: 100 ms doubling up to 5 s. */
const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 6), 5_000);

/** `redisUrl` as ioredis options: `redis://`, `rediss://` (TLS), or `redis+sentinel://h1:26379,h2:26379/<master name>`. */
export function redisOptions(url: string): { url?: string; options: RedisOptions } {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: 5_000,
    autoResubscribe: true,
    retryStrategy,
    sentinelRetryStrategy: retryStrategy,
  };
  const sentinel = /^redis\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/([^/?]+)/.exec(url);
  if (!sentinel) return { url, options: base };
  const [, username, password, hosts, name] = sentinel;
  return {
    options: {
      ...base,
      name: decodeURIComponent(name!),
      sentinels: hosts!.split(',').map((h) => {
        const [host, port] = h.split(':');
        return { host: host!, port: Number(port ?? 26379) };
      }),
      ...(username ? { username: decodeURIComponent(username) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
    },
  };
}

/** What the link tells its owner. */
export interface LinkEvents {
  /** Both connections are ready (first time, or again after an outage). */
  up(): void;
  /** A connection went away. */
  down(): void;
  /** A membership change from the events channel (already parsed JSON). */
  event(event: unknown): void;
  /** A frame for a room, from another node. */
  roomFrame(room: string, origin: string, except: string, frame: Buffer): void;
  /** A unicast for one of this node's peers. */
  peerFrame(peerId: string, frame: Buffer): void;
  /** A kick for one of this node's peers. */
  kick(peerId: string): void;
}

type Script = (...args: (string | number)[]) => Promise<unknown>;

export class RedisLink {
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly scripts: Record<'join' | 'leave' | 'snapshot' | 'heartbeat' | 'reap' | 'syncNode' | 'deregister', Script>;
  /** Channels this node wants (re-subscribed whenever the subscriber is ready again). */
  private readonly wanted = new Set<string>();
  private wasUp = false;
  private closed = false;
  /** The subscriber holds every wanted channel (set once re-subscribed after it became ready). */
  private subscribed = false;
  private readonly batcher: PublishBatcher;

  constructor(
    url: string,
    readonly prefix: string,
    readonly node: string,
    private readonly events: LinkEvents,
    private readonly logger: Logger,
  ) {
    const { url: plain, options } = redisOptions(url);
    this.commands = plain ? new Redis(plain, options) : new Redis(options);
    this.subscriber = this.commands.duplicate();
    this.batcher = new PublishBatcher(node, (messages) => this.publishAll(messages));
    const define = (name: string, lua: string): Script => {
      this.commands.defineCommand(name, { numberOfKeys: 0, lua });
      const command = (this.commands as unknown as Record<string, Script>)[name]!;
      return (...args) => {
        this.batcher.flush(); // frames published before a membership change reach Redis before it
        return command.call(this.commands, prefix, ...args);
      };
    };
    this.scripts = {
      join: define('wrsJoin', JOIN),
      leave: define('wrsLeave', LEAVE),
      snapshot: define('wrsSnapshot', SNAPSHOT),
      heartbeat: define('wrsHeartbeat', HEARTBEAT),
      reap: define('wrsReap', REAP),
      syncNode: define('wrsSyncNode', SYNC_NODE),
      deregister: define('wrsDeregister', DEREGISTER),
    };
    this.commands.on('ready', () => this.changed());
    this.subscriber.on('ready', () => void this.resubscribe());
    for (const client of [this.commands, this.subscriber]) {
      client.on('close', () => {
        if (client === this.subscriber) this.subscribed = false;
        this.changed();
      });
      client.on('error', (err: Error) => this.logger.debug({ err }, 'redis connection error'));
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.received(channel.toString(), message));
    this.wanted.add(`${prefix}events`);
    this.wanted.add(`${prefix}n:${node}`);
  }

  /** Starts connecting (and reconnecting, with backoff, until close()). Never rejects. */
  connect(): void {
    for (const client of [this.commands, this.subscriber]) {
      client.connect().catch((err: unknown) => this.logger.debug({ err }, 'redis connect failed; retrying'));
    }
  }

  get up(): boolean {
    return !this.closed && this.subscribed && this.commands.status === 'ready' && this.subscriber.status === 'ready';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.batcher.clear();
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  // ------------------------------------------------------------ scripts

  join(room: string, peerId: string, username: string): Promise<unknown> {
    return this.scripts.join(room, peerId, username, this.node);
  }

  leave(peerId: string): Promise<unknown> {
    return this.scripts.leave(peerId);
  }

  snapshot(): Promise<unknown> {
    return this.scripts.snapshot();
  }

  heartbeat(): Promise<unknown> {
    return this.scripts.heartbeat(this.node);
  }

  reap(expiryMs: number): Promise<unknown> {
    return this.scripts.reap(expiryMs);
  }

  /** `held`: (peer, room, username) of every member this node holds, in join order. */
  syncNode(held: readonly (readonly [string, string, string])[]): Promise<unknown> {
    return this.scripts.syncNode(this.node, ...held.flat());
  }

  deregister(): Promise<unknown> {
    return this.scripts.deregister(this.node);
  }

  // ------------------------------------------------------------ pub/sub

  /** Receives the room's frames from now on (resolves once subscribed, or at once when Redis is away). */
  async watchRoom(room: string): Promise<void> {
    const channel = `${this.prefix}r:${room}`;
    if (this.wanted.has(channel)) return;
    this.wanted.add(channel);
    if (this.subscriber.status === 'ready') await this.subscriber.subscribe(channel).catch(() => undefined);
  }

  unwatchRoom(room: string): void {
    const channel = `${this.prefix}r:${room}`;
    if (!this.wanted.delete(channel)) return;
    if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  /** A frame for every other node's members of `room` (except `except`). Dropped when Redis is away. */
  publishRoom(room: string, except: string, frame: Buffer): void {
    this.publish(`${this.prefix}r:${room}`, 'room', { tag: 'b', peer: except, frame });
  }

  /** A frame for one peer held by `node`. */
  publishPeer(node: string, peerId: string, frame: Buffer): void {
    this.publish(`${this.prefix}n:${node}`, 'node', { tag: 'u', peer: peerId, frame });
  }

  publishKick(node: string, peerId: string): void {
    this.publish(`${this.prefix}n:${node}`, 'node', { tag: 'k', peer: peerId, frame: Buffer.alloc(0) });
  }

  private publish(channel: string, kind: ChannelKind, record: FrameRecord): void {
    if (this.commands.status !== 'ready') return;
    this.batcher.add(channel, kind, record);
  }

  /** One turn's messages, in one write. */
  private publishAll(messages: { channel: string; message: Buffer }[]): void {
    if (this.commands.status !== 'ready') return;
    const stream = this.commands.stream;
    stream.cork();
    try {
      for (const { channel, message } of messages) {
        this.commands.publish(channel, message).catch((err: unknown) => this.logger.debug({ err, channel }, 'redis publish failed'));
      }
    } finally {
      stream.uncork();
    }
  }

  private received(channel: string, message: Buffer): void {
    try {
      if (channel === `${this.prefix}events`) {
        this.events.event(JSON.parse(message.toString('utf8')));
        return;
      }
      const { origin, records } = decodeBatch(message);
      const roomPrefix = `${this.prefix}r:`;
      const room = channel.startsWith(roomPrefix) ? channel.slice(roomPrefix.length) : null;
      for (const r of records) {
        if (room !== null) {
          if (r.tag === 'b') this.events.roomFrame(room, origin, r.peer, r.frame);
        } else if (r.tag === 'u') this.events.peerFrame(r.peer, r.frame);
        else if (r.tag === 'k') this.events.kick(r.peer);
      }
    } catch (err) {
      this.logger.warn({ err, channel }, 'cluster message dropped');
    }
  }

  /** Subscribes to every wanted channel, then counts as up: no event is missed between a resync and now. */
  private async resubscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(...this.wanted);
      this.subscribed = true;
    } catch (err) {
      this.logger.debug({ err }, 'redis subscribe failed; the next reconnection retries');
    }
    this.changed();
  }

  private changed(): void {
    const up = this.up;
    if (up === this.wasUp) return;
    this.wasUp = up;
    if (up) this.events.up();
    else this.events.down();
  }
}
