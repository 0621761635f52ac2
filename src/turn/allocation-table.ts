/**
 * The allocations' resources: relay ports, quotas (EVEN-PORT reservations
 * included), relay sockets, live and pending allocations, the live counts,
 * the sweep of expired permissions and channels, and their release when an
 * allocation ends or the server stops. Part of the node-turn adapter (see
 * node-turn-backend.ts).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type NodeTurnMessage from 'node-turn/lib/message.js';
import type { Logger } from 'pino';
import type { AdapterContext, LiveCounts } from './adapter-context.js';
import type { TurnLimits } from './limits.js';
import { AllocationQuota } from './quota.js';
import type { QuotaLedger } from './quota.js';
import { sourceKey, UDP } from './node-turn-engine.js';
import { RelayAllocation } from './relay-allocation.js';
import type { AllocationHost } from './relay-allocation.js';
import { RelayPorts } from './relay-ports.js';
import { NodeTurnDefect } from './turn-backend.js';
import { UdpClients } from './udp-clients.js';

/** Where peer data arriving on a relay socket goes (the UDP front). */
export interface PeerDataSink {
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void;
}

export class AllocationTable implements AllocationHost {
  readonly logger: Logger;
  readonly counts: LiveCounts;
  readonly limits: Readonly<TurnLimits>;
  readonly quota: QuotaLedger;
  readonly relayPorts: RelayPorts;
  /** The live UDP allocations by client address and port (the UDP front's lookup per datagram). */
  readonly udpClients = new UdpClients();
  /** 5-tuple -> transaction id of an Allocate still binding its relay socket. */
  readonly pending = new Map<string, string>();
  /** Relay sockets of allocations (still open ones; with #3 unmended, leaked ones too). */
  private readonly sockets = new Set<Socket>();
  private readonly live = new Set<RelayAllocation>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly peerData: PeerDataSink,
  ) {
    const config = ctx.config;
    this.logger = ctx.logger;
    this.counts = ctx.counts;
    this.limits = ctx.limits;
    this.quota = config.quotaLedger ?? new AllocationQuota(config.quotas);
    this.relayPorts = new RelayPorts({
      bindHost: config.relayBindHost,
      range: config.relayPorts,
      thread: config.foreign?.self ?? 0,
      maxReservations: config.quotas.total,
      reservationMs: ctx.limits.reservationMs,
      // a reservation holds a quota slot of its owner until redeemed or ended
      onReservationEnded: (owner) => this.quota.release(owner, null),
    });
  }

  /** Deletes expired permissions and channels of every allocation every `sweepIntervalMs`. */
  startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), this.limits.sweepIntervalMs);
    this.sweeper.unref();
  }

  /** One sweep: O(allocations x (maxPermissions + channels)), never per packet. */
  sweep(): void {
    const now = Date.now();
    for (const allocation of this.live) {
      allocation.purgeExpiredPermissions(now);
      allocation.purgeExpiredChannels(now);
    }
  }

  /** Relay sockets open: those of allocations and those reserved. */
  get relaySockets(): number {
    return this.sockets.size + this.relayPorts.open;
  }

  /** Tracks a relay socket just bound for an Allocate. */
  adopt(socket: Socket): void {
    this.sockets.add(socket);
  }

  /** A live allocation on an adopted relay socket. */
  create(msg: NodeTurnMessage, socket: Socket, lifetime: number, owner: string): RelayAllocation {
    // node-turn's table gains an entry unless one on this 5-tuple is replaced (#8 unmended)
    const replaces = this.ctx.engine.allocations[msg.transport.get5Tuple()] !== undefined;
    const allocation = new RelayAllocation(msg, socket, lifetime, owner, this);
    allocation.client = sourceKey(msg.transport.src);
    if (msg.transport.protocol === UDP) this.udpClients.add(msg.transport.src.address, msg.transport.src.port, allocation);
    if (!replaces) this.counts.allocations++;
    this.live.add(allocation);
    return allocation;
  }

  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void {
    this.peerData.fromPeer(allocation, data, rinfo);
  }

  closeRelaySocket(socket: Socket): void {
    this.sockets.delete(socket);
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  /** Called once per allocation when it ends. */
  allocationEnded(allocation: RelayAllocation, reason: string): void {
    if (!this.live.delete(allocation)) return;
    this.udpClients.remove(allocation.mappedAddress.address, allocation.mappedAddress.port, allocation);
    this.quota.release(allocation.owner, allocation.client);
    this.logger.debug({ user: allocation.owner, relay: allocation.relayedTransportAddress.toString(), reason }, 'TURN allocation ended');
    // mends #3: node-turn never closes the relay socket
    if (this.ctx.isMended(NodeTurnDefect.RELAY_SOCKET_LEAK) || !this.ctx.running) this.closeRelaySocket(allocation.socket);
  }

  /** On stop: ends every allocation and closes every relay socket and timer. */
  closeAll(): void {
    const engine = this.ctx.engine;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const allocation of [...this.live]) allocation.end('shutdown');
    for (const relay of [...this.sockets]) this.closeRelaySocket(relay);
    this.relayPorts.closeAll();
    for (const allocation of Object.values(engine.allocations)) clearTimeout(allocation.timer);
    engine.allocations = {};
    this.udpClients.clear();
    this.pending.clear();
    this.counts.reset();
  }
}
