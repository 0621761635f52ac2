/**
 * One handler per STUN method, installed on node-turn's handler objects
 * (pion's internal/server/turn.go): Allocate (mends #2, #8 and quotas),
 * Refresh (#1), ChannelBind (#6), and peer filtering on CreatePermission,
 * Send and ChannelBind (#9). node-turn still authenticates and checks the
 * allocation and 5-tuple before any of them runs. Part of the node-turn
 * adapter (see node-turn-backend.ts).
 */
import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type NodeTurnAddress from 'node-turn/lib/address.js';
import type NodeTurnMessage from 'node-turn/lib/message.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { AdapterContext } from './adapter-context.js';
import type { AllocationTable } from './allocation-table.js';
import { sourceKey, UDP } from './node-turn-engine.js';
import type { QuotaVerdict } from './quota.js';
import type { EngineMessage } from './node-turn-engine.js';
import type { RelayAllocation } from './relay-allocation.js';
import { reservationThread } from './reservation-token.js';
import { Attr, getAttribute, isChannelNumber } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';

type Handler = (msg: EngineMessage, reply: NodeTurnMessage) => void;

/** A relay socket for an allocation, and the token of the port reserved next to it. */
interface Relay {
  socket: Socket;
  token?: string;
}

function quotaRefusal(verdict: Exclude<QuotaVerdict, 'ok'>): 486 | 508 | 'moved' {
  return verdict === 'user' ? 486 : verdict === 'moved' ? 'moved' : 508;
}

export class TurnHandlers {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly allocations: AllocationTable,
  ) {}

  /** Replaces or wraps node-turn's method handlers; every one answers 500 rather than throw. */
  install(): void {
    const engine = this.ctx.engine;
    const originalRefresh = engine.refresh.refresh.bind(engine.refresh);
    const originalCreatePermission = engine.createPermission.createPermission.bind(engine.createPermission);
    const originalSend = engine.send.send.bind(engine.send);
    const originalChannelBind = engine.channelBind.channelBind.bind(engine.channelBind);
    const guard = (name: string, handler: Handler): Handler => (msg, reply) => {
      try {
        handler(msg, reply);
      } catch (err) {
        this.ctx.logger.warn({ err, method: name }, 'TURN request failed');
        if (msg.class === CONSTANTS.CLASS.REQUEST && this.ctx.running) this.ctx.safely(() => reply.reject(500, 'Server Error'));
      }
    };
    engine.allocate.allocate = guard('allocate', (msg, reply) => this.onAllocate(msg, reply));
    engine.refresh.refresh = guard('refresh', this.ctx.isMended(NodeTurnDefect.REFRESH_LIFETIME)
      ? (msg, reply) => this.onRefresh(msg, reply)
      : (msg, reply) => {
        const allocation = msg.allocation as RelayAllocation;
        originalRefresh(msg, reply);
        // node-turn's LIFETIME 0 deletes the table entry itself (the allocation lingers until its timer)
        if (!allocation.ended && engine.allocations[allocation.fiveTuple] !== allocation) this.ctx.counts.allocations--;
      });
    engine.createPermission.createPermission = guard('createPermission', (msg, reply) => {
      if (this.refusePeers(msg, reply, false)) return;
      if (this.refusePermissionQuota(msg, reply)) return;
      originalCreatePermission(msg, reply);
    });
    engine.send.send = guard('send', (msg, reply) => {
      const peer = msg.getAttribute('xor-peer-address') as NodeTurnAddress | undefined;
      if (peer && this.ctx.isMended(NodeTurnDefect.PEER_FILTER) && this.ctx.config.peerFilter.checkDestination(peer.address, peer.port) !== 'allowed') return;
      // node-turn's handler sends DATA to a permitted peer and drops anything else: count what it will send
      const data = msg.getAttribute('data') as Buffer | undefined;
      if (peer && data && (msg.allocation as RelayAllocation | undefined)?.permitted(peer.address)) this.ctx.relayed(data.length);
      originalSend(msg, reply);
    });
    engine.channelBind.channelBind = guard('channelBind', (msg, reply) => {
      if (this.refusePeers(msg, reply, true)) return;
      if (this.refusePermissionQuota(msg, reply)) return;
      if (this.ctx.isMended(NodeTurnDefect.CHANNEL_BIND_INTEGRITY)) return this.onChannelBind(msg, reply);
      originalChannelBind(msg, reply);
      const allocation = msg.allocation as RelayAllocation;
      const channel = msg.getAttribute('channel-number') as number | undefined;
      // bound by this request: give it a lifetime, and count it
      if (channel !== undefined && allocation.channelBindings[channel] === msg.getAttribute('xor-peer-address')) allocation.channelBound(channel);
    });
  }

  /** Allocate (RFC 8656 section 7.2): node-turn's, with #2, #8 and quotas mended. */
  private onAllocate(msg: EngineMessage, reply: NodeTurnMessage): void {
    const fiveTuple = msg.transport.get5Tuple();
    const transactionId = msg.transactionID ?? '';
    if (this.ctx.isMended(NodeTurnDefect.ALLOCATE_SAME_5TUPLE)) {
      const existing = this.ctx.engine.allocations[fiveTuple] as RelayAllocation | undefined;
      if (existing) {
        if (existing.transactionID === transactionId) this.replyAllocated(existing, reply, existing.remainingSeconds());
        else reply.reject(437, 'Allocation Mismatch');
        return;
      }
      const pending = this.allocations.pending.get(fiveTuple);
      if (pending !== undefined) {
        if (pending !== transactionId) reply.reject(437, 'Allocation Mismatch');
        return; // a retransmission: the first one's answer is on its way
      }
    }
    const transport = msg.getAttribute('requested-transport') as number | undefined;
    if (transport === undefined) return reply.reject(400, 'Bad Request');
    if (transport !== UDP) return reply.reject(442, 'Unsupported Transport Protocol');
    const family = msg.stun && getAttribute(msg.stun, Attr.REQUESTED_ADDRESS_FAMILY);
    if (family && family.value[0] !== 0x01) return reply.reject(440, 'Address Family not Supported');
    const evenPort = msg.getAttribute('even-port') as boolean | undefined;
    const token = msg.getAttribute('reservation-token') as string | undefined;
    if (token !== undefined && evenPort !== undefined) return reply.reject(400, 'Bad Request');
    if (token !== undefined && this.forwardedRedeem(msg, token)) return;
    const owner = this.ownerOf(msg);
    const client = sourceKey(msg.transport.src);
    const lifetime = this.grantedLifetime(msg.getAttribute('lifetime') as number | undefined);
    // pending from here: a retransmission while the quota or the relay port is awaited is not a second Allocate
    this.allocations.pending.set(fiveTuple, transactionId);
    const unpend = () => {
      if (this.allocations.pending.get(fiveTuple) === transactionId) this.allocations.pending.delete(fiveTuple);
    };
    const relay = token !== undefined ? this.redeem(token, owner, client) : this.acquire(owner, client, evenPort);
    relay.then(
      (result) => {
        unpend();
        if (result === 'moved') return; // another relay thread owns this client: its retransmission is forwarded there
        if (typeof result === 'number') {
          this.ctx.safely(() => reply.reject(result, result === 486 ? 'Allocation Quota Reached' : 'Insufficient Capacity'));
          return;
        }
        const { socket, token: reservation } = result;
        this.allocations.adopt(socket);
        // stopped, or the client's stream closed meanwhile (its allocation would have no client)
        if (!this.ctx.running || msg.transport.socket.closed === true) {
          this.allocations.quota.release(owner, client);
          this.allocations.closeRelaySocket(socket);
          return;
        }
        try {
          const allocation = this.allocations.create(msg, socket, lifetime, owner);
          this.ctx.logger.debug({ user: owner, relay: allocation.relayedTransportAddress.toString(), lifetime }, 'TURN allocation');
          if (reservation !== undefined) reply.addAttribute('reservation-token', reservation);
          this.replyAllocated(allocation, reply, lifetime);
        } catch (err) {
          this.allocations.quota.release(owner, client);
          this.allocations.closeRelaySocket(socket);
          this.ctx.logger.warn({ err }, 'TURN allocation failed');
          this.ctx.safely(() => reply.reject(500, 'Server Error'));
        }
      },
      (err: unknown) => {
        unpend();
        this.ctx.logger.debug({ err }, 'TURN allocation refused: no relay port');
        this.ctx.safely(() => reply.reject(508, 'Insufficient Capacity'));
      },
    );
  }

  /**
   * A relay socket for an Allocate of `owner` from `client`, its quota slot
   * taken: 486/508 when the quota refuses (508 too when the main thread does
   * not answer in time), 'moved' when another relay thread owns `client`.
   * With EVEN-PORT R (RFC 8656 section 7.2) the reserved next port holds a
   * second slot of `owner` until it is redeemed or expires (relay-ports.ts
   * gives it back), so reservations cannot escape the quota. The promise
   * rejects with every slot given back.
   */
  private async acquire(owner: string, client: string, evenPort: boolean | undefined): Promise<Relay | 486 | 508 | 'moved'> {
    const quota = this.allocations.quota;
    const first = await quota.take(owner, client);
    if (first !== 'ok') return quotaRefusal(first);
    const reserve = evenPort === true;
    if (reserve) {
      const second = await quota.take(owner, null);
      if (second !== 'ok') {
        quota.release(owner, client);
        return quotaRefusal(second);
      }
    }
    try {
      const relay = await this.allocations.relayPorts.acquire(evenPort !== undefined, reserve, owner);
      if (reserve && relay.token === undefined) quota.release(owner, null); // no reservation made after all
      return relay;
    } catch (err) {
      quota.release(owner, client);
      if (reserve) quota.release(owner, null);
      throw err;
    }
  }

  /**
   * An Allocate whose RESERVATION-TOKEN names another relay thread
   * (reservation-token.ts), authenticated here: handed to that thread, which
   * holds the reserved port, allocates, answers from its own socket (the same
   * address) and owns the client from then on (docs/turn-threads.md). True
   * when handed over (or dropped at the forwarding bound, as UDP may drop
   * it: the client retransmits); false when this adapter answers (its own
   * token, or one naming no other relay thread: unknown, 508).
   */
  private forwardedRedeem(msg: EngineMessage, token: string): boolean {
    const foreign = this.ctx.config.foreign;
    const thread = reservationThread(token);
    if (!foreign || thread === null || thread === foreign.self || msg.transport.protocol !== UDP || !msg.stun) return false;
    return foreign.forwardTo(thread, msg.stun.raw, msg.transport.src.address, msg.transport.src.port);
  }

  /**
   * The socket reserved under `token`, for an Allocate of `owner`: the
   * reservation's quota slot passes to the allocation (to `owner`'s count
   * when someone else reserved it; relay threads: the directory learns that
   * this thread owns `client`). 508 for an unknown token (RFC 8656 section
   * 7.2: one this thread does not hold), 486/508 when `owner`'s quota
   * refuses; 'moved' (the reservation spent) when another thread owns `client`.
   */
  private async redeem(token: string, owner: string, client: string): Promise<Relay | 486 | 508 | 'moved'> {
    const quota = this.allocations.quota;
    const ports = this.allocations.relayPorts;
    const holder = ports.ownerOf(token);
    if (holder === undefined) return 508;
    if (holder === owner) {
      // taken off the reservations first: it cannot expire while the ledger answers
      const socket = ports.redeem(token)!;
      const passed = await quota.take(owner, client, true);
      if (passed === 'ok') return { socket };
      ports.close(socket); // the ledger gave the reservation's slot back
      return quotaRefusal(passed);
    }
    const taken = await quota.take(owner, client);
    if (taken !== 'ok') return quotaRefusal(taken);
    const socket = ports.redeem(token);
    if (!socket) {
      quota.release(owner, client); // expired while the quota answered
      return 508;
    }
    quota.release(holder, null);
    return { socket };
  }

  private replyAllocated(allocation: RelayAllocation, reply: NodeTurnMessage, lifetime: number): void {
    reply.addAttribute('xor-relayed-address', allocation.relayedTransportAddress);
    reply.addAttribute('lifetime', lifetime);
    reply.addAttribute('xor-mapped-address', allocation.mappedAddress);
    reply.addAttribute('software', this.ctx.software);
    reply.addAttribute('message-integrity');
    this.ctx.safely(() => reply.resolve());
  }

  /** min(requested, turnLifetime), at least 1 s (mends #2: node-turn reads 'liftetime'). */
  private grantedLifetime(requested: number | undefined): number {
    const max = this.ctx.config.maxLifetimeSec;
    if (!this.ctx.isMended(NodeTurnDefect.REQUESTED_LIFETIME)) return max; // node-turn: the default, always
    if (requested === undefined) return max;
    return Math.max(1, Math.min(requested, max));
  }

  /** Refresh (RFC 8656 section 7.3; mends #1): LIFETIME 0 deletes, else min(requested, turnLifetime). */
  private onRefresh(msg: EngineMessage, reply: NodeTurnMessage): void {
    const allocation = msg.allocation as RelayAllocation;
    const requested = msg.getAttribute('lifetime') as number | undefined;
    const family = msg.stun && getAttribute(msg.stun, Attr.REQUESTED_ADDRESS_FAMILY);
    if (family && family.value[0] !== 0x01) return reply.reject(443, 'Peer Address Family Mismatch');
    const lifetime = requested === 0 ? 0 : requested === undefined ? this.ctx.config.maxLifetimeSec : Math.max(1, Math.min(requested, this.ctx.config.maxLifetimeSec));
    if (lifetime === 0) allocation.end('refreshed with lifetime 0');
    else allocation.update(lifetime);
    reply.addAttribute('lifetime', lifetime);
    reply.addAttribute('software', this.ctx.software);
    reply.addAttribute('message-integrity');
    reply.resolve();
  }

  /** ChannelBind (RFC 8656 section 12.2): node-turn's checks, a channel lifetime, and MESSAGE-INTEGRITY (mends #6). */
  private onChannelBind(msg: EngineMessage, reply: NodeTurnMessage): void {
    const allocation = msg.allocation as RelayAllocation;
    const channel = msg.getAttribute('channel-number') as number | undefined;
    const peer = msg.getAttribute('xor-peer-address') as NodeTurnAddress | undefined;
    if (channel === undefined || !peer || !isChannelNumber(channel)) return reply.reject(400, 'Bad Request');
    allocation.purgeExpiredChannels();
    const boundPeer = allocation.channelBindings[channel];
    if (boundPeer && (boundPeer.address !== peer.address || boundPeer.port !== peer.port)) return reply.reject(400, 'Bad Request');
    const boundChannel = allocation.getPeerChannelNumber(peer);
    if (boundChannel !== undefined && boundChannel !== channel) return reply.reject(400, 'Bad Request');
    allocation.permit(peer.address);
    allocation.channelBindings[channel] = peer;
    allocation.channelBound(channel);
    reply.addAttribute('software', this.ctx.software);
    reply.addAttribute('message-integrity');
    reply.resolve();
  }

  /**
   * At most `maxPermissions` per allocation (eturnal's `max_permissions`):
   * RFC 8656 section 9 lets the server refuse a permission; a request that
   * would install more gets 508 Insufficient Capacity and installs none.
   * Expired permissions are deleted first (they do not count). True when the
   * request was answered here.
   */
  private refusePermissionQuota(msg: EngineMessage, reply: NodeTurnMessage): boolean {
    const allocation = msg.allocation as RelayAllocation;
    const peers = msg.getAttributes('xor-peer-address') as NodeTurnAddress[];
    const added = allocation.newPermissions(peers.map((p) => p.address));
    if (allocation.permissionCount + added <= this.ctx.limits.maxPermissions) return false;
    this.ctx.events.refused('permission_quota');
    this.ctx.logger.debug({ user: msg.user?.username, held: allocation.permissionCount, added }, 'TURN permission refused: quota (508)');
    reply.reject(508, 'Insufficient Capacity');
    return true;
  }

  /**
   * Peer filtering (mends #9): 403 when a peer is refused, 443 for an IPv6
   * peer (the relay is IPv4). True when the request was answered here.
   */
  private refusePeers(msg: EngineMessage, reply: NodeTurnMessage, withPort: boolean): boolean {
    if (!this.ctx.isMended(NodeTurnDefect.PEER_FILTER)) return false;
    const filter = this.ctx.config.peerFilter;
    for (const peer of msg.getAttributes('xor-peer-address') as NodeTurnAddress[]) {
      const verdict = withPort ? filter.checkDestination(peer.address, peer.port) : filter.checkPeer(peer.address);
      if (verdict === 'invalid') {
        reply.reject(400, 'Bad Request');
        return true;
      }
      if (verdict === 'denied') {
        this.ctx.logger.info({ peer: `${peer.address}:${peer.port}`, user: msg.user?.username }, 'TURN peer refused (403)');
        reply.reject(403, 'Forbidden');
        return true;
      }
      if (!isIPv4(peer.address)) {
        reply.reject(443, 'Peer Address Family Mismatch');
        return true;
      }
    }
    return false;
  }

  private ownerOf(msg: NodeTurnMessage): string {
    const username = msg.user?.username ?? '';
    return this.ctx.config.credentials.peek(username)?.name ?? username;
  }
}
