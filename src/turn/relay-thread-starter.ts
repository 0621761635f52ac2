/**
 * Starts TURN relay thread `index`, again and again under turn_sup. The
 * first thread to start binds `turnPort` (0: a free port, where with
 * `turnTcp` TCP must be free too: a few attempts, as for one thread); every
 * later start, of any thread, binds the port it got, where the main thread's
 * TCP/TLS listener binds too. The configuration is worked out once (the
 * relay address may need a DNS lookup) and handed to each thread as data.
 */
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import type { ResolvedOptions } from '../options.js';
import { threadChallengeShare } from './limits.js';
import { resolveRelayAddress } from './relay-address.js';
import type { RelayHub } from './relay-hub.js';
import { RelayThread } from './relay-thread.js';
import type { ThreadConfig } from './relay-thread-protocol.js';
import { turnListenHost } from './turn-listener.js';
import type { TurnTuning } from './turn-listener.js';

/** Attempts at a port free for UDP and TCP with `turnPort: 0`. */
const PORT_PAIR_ATTEMPTS = 10;

/** Tuning that is data crosses to the threads; functions cannot (such tuning runs TURN on the main thread). */
export type ThreadTuning = Pick<TurnTuning, 'quotas' | 'credentials' | 'limits' | 'peers' | 'unmended'> & { nonce?: { lifetimeSec?: number } };

function tcpFree(host: string, port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class RelayThreadStarter {
  constructor(
    private readonly hub: RelayHub,
    private readonly options: ResolvedOptions,
    private readonly logger: Logger,
    private readonly tuning: ThreadTuning = {},
  ) {}

  /** The start function of thread `index`'s child spec. */
  starter(index: number): () => Promise<RelayThread> {
    return () => this.start(index);
  }

  private async start(index: number): Promise<RelayThread> {
    const config = await this.config();
    if (this.hub.port !== null) return this.spawn(index, config, this.hub.port);
    const wanted = this.options.turnPort === false ? 0 : this.options.turnPort;
    for (let attempt = 1; ; attempt++) {
      const thread = await this.spawn(index, config, wanted);
      if (wanted !== 0 || !this.options.turnTcp || (await tcpFree(config.listenHost, thread.port)) || attempt >= PORT_PAIR_ATTEMPTS) {
        this.hub.port = thread.port;
        return thread;
      }
      await thread.stop();
    }
  }

  private spawn(index: number, config: Omit<ThreadConfig, 'port' | 'nonceKey'>, port: number): Promise<RelayThread> {
    const inbox = this.hub.newInbox();
    return RelayThread.start(this.hub, index, {
      index,
      threads: this.hub.threads,
      config: { ...config, port, nonceKey: this.hub.nonceKey },
      logLevel: this.logger.level,
      stats: this.hub.newStatsBuffer(),
      inbox,
      peers: this.hub.channelsFor(index, inbox),
      owners: this.hub.quota.directory(),
    }, this.logger);
  }

  private async config(): Promise<Omit<ThreadConfig, 'port' | 'nonceKey'>> {
    if (this.hub.config) return this.hub.config;
    const o = this.options;
    const t = this.tuning;
    const listenHost = turnListenHost(o);
    const relayAddress = await resolveRelayAddress({ turnIp: o.turnIp, hostname: o.hostname, listenHost, dev: o.dev }, this.logger);
    this.hub.config = {
      listenHost,
      realm: o.hostname,
      relayAddress,
      relayBindHost: listenHost,
      relayPorts: [o.relayPorts[0], o.relayPorts[1]],
      maxLifetimeSec: o.turnLifetime,
      quotas: t.quotas ?? { perUser: o.turnMaxAllocationsPerUser, total: o.turnMaxAllocations },
      peers: {
        allowLoopbackPeers: o.allowLoopbackPeers,
        allowed: [...o.turnAllowedPeers, ...(t.peers?.allowed ?? [])],
        denied: [...o.turnDeniedPeers, ...(t.peers?.denied ?? [])],
        selfAddresses: [relayAddress, listenHost],
        relayPorts: [o.relayPorts[0], o.relayPorts[1]],
      },
      // the per-source challenge budget holds across threads: each keeps its share
      limits: { ...threadChallengeShare(t.limits ?? {}, this.hub.threads) } as Record<string, number>,
      ...(t.credentials ? { credentials: { ...t.credentials } as Record<string, number> } : {}),
      ...(t.unmended ? { unmended: [...t.unmended] } : {}),
      ...(t.nonce?.lifetimeSec ? { nonceLifetimeSec: t.nonce.lifetimeSec } : {}),
    };
    return this.hub.config;
  }
}
