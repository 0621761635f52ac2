/**
 * One TURN allocation (RFC 8656 section 7): node-turn's Allocation, made to
 * own its lifetime timer, its relay socket and its channel lifetimes. Part of
 * the node-turn adapter (see node-turn-backend.ts).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import NodeTurnAllocation from 'node-turn/lib/allocation.js';
import type NodeTurnMessage from 'node-turn/lib/message.js';
import type { Logger } from 'pino';

/** RFC 8656 section 9: permissions last 300 s (node-turn's own value); channels 600 s (section 12). */
export const CHANNEL_LIFETIME_MS = 600_000;

/** What an allocation reports to: the peer data path and the allocation table. */
export interface AllocationHost {
  readonly logger: Logger;
  /** Peer -> client data arriving on the relay socket. */
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void;
  /** Called once per allocation when it ends. */
  allocationEnded(allocation: RelayAllocation, reason: string): void;
}

/**
 * node-turn's Allocation, made to own its lifetime: one timer, and the relay
 * socket closed when the allocation ends however it ends (mends #3).
 */
export class RelayAllocation extends NodeTurnAllocation {
  ended = false;
  readonly channelExpiry = new Map<number, number>();

  constructor(
    msg: NodeTurnMessage,
    readonly socket: Socket,
    lifetime: number,
    readonly owner: string,
    private readonly host: AllocationHost,
  ) {
    super(msg, [socket], lifetime);
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

  /** The channel bound to peer `address:port`, if live. */
  channelFor(address: string, port: number): number | undefined {
    // Runs per packet from a peer: no array is built.
    for (const key in this.channelBindings) {
      const peer = this.channelBindings[key as unknown as number];
      if (peer && peer.address === address && peer.port === port && this.channelLive(Number(key))) return Number(key);
    }
    return undefined;
  }

  channelLive(channel: number): boolean {
    const expiry = this.channelExpiry.get(channel);
    return expiry === undefined || expiry > Date.now();
  }

  /** An expired channel binding frees its number and its peer (RFC 8656 section 12). */
  purgeExpiredChannels(): void {
    for (const [channel, expiry] of this.channelExpiry) {
      if (expiry > Date.now()) continue;
      this.channelExpiry.delete(channel);
      delete this.channelBindings[channel];
    }
  }

  permitted(address: string): boolean {
    const until = this.permissions[address];
    return until !== undefined && until >= Date.now();
  }

  /** Unexpired permissions (node-turn never deletes expired ones). */
  livePermissions(now: number): number {
    let n = 0;
    for (const until of Object.values(this.permissions)) if (until >= now) n++;
    return n;
  }

  /** Unexpired channel bindings. */
  liveChannels(now: number): number {
    let n = 0;
    for (const [channel, peer] of Object.entries(this.channelBindings)) {
      const expiry = this.channelExpiry.get(Number(channel));
      if (peer && (expiry === undefined || expiry > now)) n++;
    }
    return n;
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.server.allocations[this.fiveTuple] === this) delete this.server.allocations[this.fiveTuple];
    this.host.allocationEnded(this, reason);
  }
}
