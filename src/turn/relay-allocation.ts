/**
 * One TURN allocation (RFC 8656 section 7): node-turn's Allocation, made to
 * own its lifetime timer, its relay socket, its channel lifetimes, and to
 * keep its permissions and channels bounded and counted. Part of the
 * node-turn adapter (see node-turn-backend.ts).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import NodeTurnAllocation from 'node-turn/lib/allocation.js';
import type NodeTurnMessage from 'node-turn/lib/message.js';
import type { Logger } from 'pino';
import type { LiveCounts } from './adapter-context.js';
import type { TurnLimits } from './limits.js';

/** What an allocation reports to: the peer data path and the allocation table. */
export interface AllocationHost {
  readonly logger: Logger;
  /** Allocations, permissions and channels held by the backend: kept up to date here. */
  readonly counts: LiveCounts;
  readonly limits: Readonly<Pick<TurnLimits, 'permissionLifetimeMs' | 'channelLifetimeMs'>>;
  /** Peer -> client data arriving on the relay socket. */
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void;
  /** Called once per allocation when it ends. */
  allocationEnded(allocation: RelayAllocation, reason: string): void;
}

/**
 * node-turn's Allocation, made to own its lifetime: one timer, and the relay
 * socket closed when the allocation ends however it ends (mends #3).
 * Permissions (peer IP -> expiry, node-turn's own object, read per packet)
 * are deleted once expired and counted as they change.
 */
export class RelayAllocation extends NodeTurnAllocation {
  ended = false;
  /** The client's transport address ("ip:port"): its quota slot is held under it. */
  client = '';
  /** Channel number -> expiry (ms since epoch): one entry per channel binding held. */
  readonly channelExpiry = new Map<number, number>();
  /** Entries of `permissions` (expired ones included until purged). */
  private heldPermissions = 0;
  /** The channel `channelFor` found last (checked against the bindings on every use). */
  private lastChannel: number | undefined = undefined;

  constructor(
    msg: NodeTurnMessage,
    readonly socket: Socket,
    lifetime: number,
    readonly owner: string,
    private readonly host: AllocationHost,
  ) {
    super(msg, [socket], lifetime);
    this.permissions = Object.create(null) as Record<string, number>;
    // node-turn's timer only deletes the table entry (and would delete a newer
    // allocation on the same 5-tuple): replace it by ours.
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.end('expired'), lifetime * 1000);
    // node-turn's peer handler parses peer data that looks like ChannelData as
    // ChannelData and uses async Data indications: replace it by ours.
    socket.removeAllListeners('message');
    socket.on('message', (data, rinfo) => host.fromPeer(this, data, rinfo));
    socket.on('error', (err) => {
      host.logger.warn({ err, relay: this.relayedTransportAddress.toString() }, 'TURN relay socket error: allocation ended');
      this.end('relay socket error');
    });
  }

  /** Sets the time to expiry to `lifetime` seconds from now. */
  override update(lifetime?: number): void {
    clearTimeout(this.timer);
    const seconds = lifetime ?? this.lifetime;
    // NaN (node-turn's Refresh, #1 unmended) fires at once, as in node-turn
    this.timer = setTimeout(() => this.end('expired'), seconds * 1000);
    this.timeToExpiry = Date.now() + seconds * 1000;
  }

  remainingSeconds(): number {
    return Math.max(0, Math.round((this.timeToExpiry - Date.now()) / 1000));
  }

  // ------------------------------------------------------------ permissions

  /** Installs or refreshes the permission for peer IP `address` (RFC 8656 section 9: 300 s). */
  override permit(address: string): void {
    if (this.permissions[address] === undefined) {
      this.heldPermissions++;
      this.host.counts.permissions++;
    }
    this.permissions[address] = Date.now() + this.host.limits.permissionLifetimeMs;
  }

  permitted(address: string, now: number = Date.now()): boolean {
    const until = this.permissions[address];
    return until !== undefined && until >= now;
  }

  /** Permissions held (at most the cap; expired ones until purged). */
  get permissionCount(): number {
    return this.heldPermissions;
  }

  /**
   * How many of `addresses` (counted once each) have no permission yet, once
   * the expired ones are deleted: what a request for them would add.
   * O(held + addresses), both capped.
   */
  newPermissions(addresses: readonly string[]): number {
    this.purgeExpiredPermissions(Date.now());
    let added = 0;
    for (let i = 0; i < addresses.length; i++) {
      const address = addresses[i]!;
      if (this.permissions[address] === undefined && addresses.indexOf(address) === i) added++;
    }
    return added;
  }

  /** Deletes expired permissions (node-turn never does). */
  purgeExpiredPermissions(now: number): void {
    for (const address in this.permissions) {
      if (this.permissions[address]! >= now) continue;
      delete this.permissions[address];
      this.heldPermissions--;
      this.host.counts.permissions--;
    }
  }

  // --------------------------------------------------------------- channels

  /**
   * The channel bound to peer `address:port`, if live. Runs per packet from
   * a peer: the last channel found is tried first (most allocations talk
   * to one peer), then the bindings (at most `maxPermissions`), no array built.
   */
  channelFor(address: string, port: number, now: number = Date.now()): number | undefined {
    const last = this.lastChannel;
    if (last !== undefined) {
      const peer = this.channelBindings[last];
      if (peer && peer.address === address && peer.port === port && this.channelLive(last, now)) return last;
    }
    for (const key in this.channelBindings) {
      const peer = this.channelBindings[key as unknown as number];
      const channel = Number(key);
      if (peer && peer.address === address && peer.port === port && this.channelLive(channel, now)) {
        this.lastChannel = channel;
        return channel;
      }
    }
    return undefined;
  }

  channelLive(channel: number, now: number = Date.now()): boolean {
    const expiry = this.channelExpiry.get(channel);
    return expiry === undefined || expiry > now;
  }

  /** `channel` was just bound or refreshed (RFC 8656 section 12: 600 s): (re)starts its lifetime. */
  channelBound(channel: number): void {
    if (this.channelBindings[channel] === undefined) return;
    if (!this.channelExpiry.has(channel)) this.host.counts.channels++;
    this.channelExpiry.set(channel, Date.now() + this.host.limits.channelLifetimeMs);
  }

  /** An expired channel binding frees its number and its peer (RFC 8656 section 12). */
  purgeExpiredChannels(now: number = Date.now()): void {
    for (const [channel, expiry] of this.channelExpiry) {
      if (expiry > now) continue;
      this.channelExpiry.delete(channel);
      this.host.counts.channels--;
      delete this.channelBindings[channel];
    }
  }

  // -------------------------------------------------------------------- end

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.server.allocations[this.fiveTuple] === this) {
      delete this.server.allocations[this.fiveTuple];
      this.host.counts.allocations--;
    }
    this.host.counts.permissions -= this.heldPermissions;
    this.host.counts.channels -= this.channelExpiry.size;
    this.heldPermissions = 0;
    this.permissions = Object.create(null) as Record<string, number>;
    this.channelExpiry.clear();
    this.host.allocationEnded(this, reason);
  }
}
