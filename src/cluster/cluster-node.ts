/**
 * The cluster node (with `redisUrl`): the worker under root_sup that keeps
 * this server in the cluster. It connects the cluster room bus to Redis,
 * says every `HEARTBEAT_MS` that this server is alive, and every
 * `HEARTBEAT_MS` removes the members of servers silent for `EXPIRY_MS`
 * (a SIGKILLed server's members are gone from their rooms within about
 * EXPIRY_MS + HEARTBEAT_MS; the bound is 15 s). It reaps only once
 * it has itself been connected for EXPIRY_MS, so that after an outage of
 * Redis every server has had the time to say it is alive. Stopping it (after
 * the signaling tree: the members have left by then) takes the node out of
 * the cluster.
 */
import type { Logger } from 'pino';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { ClusterRoomBus } from './cluster-room-bus.js';
import type { ClusterTiming } from './timing.js';


export class ClusterNode implements Worker {
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  private constructor(
    private readonly bus: ClusterRoomBus,
    private readonly logger: Logger,
    private readonly timing: ClusterTiming,
  ) {}

  static start(bus: ClusterRoomBus, logger: Logger): ClusterNode {
    const timing = bus.timing;
    const node = new ClusterNode(bus, logger, timing);
    bus.connect();
    node.timer = setInterval(() => void node.tick(), timing.heartbeatMs);
    node.timer.unref();
    logger.info({ node: bus.node }, 'cluster node started');
    return node;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.bus.close();
  }

  onExit(_listener: (reason: ExitReason) => void): void {
    // Redis failures are the bus's to live with; the node only exits when stopped.
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.bus.up) return;
    this.ticking = true;
    try {
      await this.bus.heartbeat();
      const upFor = this.bus.upFor();
      if (upFor !== null && upFor >= this.timing.expiryMs) await this.bus.reap(this.timing.expiryMs);
    } catch (err) {
      this.logger.debug({ err }, 'cluster: heartbeat or reap failed');
    } finally {
      this.ticking = false;
    }
  }
}
