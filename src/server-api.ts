/**
 * What users of a running server can do (docs/configuration.md,
 * "Embedding"), and what the admin API and health endpoints read. Workers
 * are looked up through the server's registry at call time, so it follows
 * restarts.
 */
import { isInspectable } from './otp/supervisor.js';
import type { DynamicSupervisor } from './otp/dynamic-supervisor.js';
import type { NameRegistry } from './otp/registry.js';
import type { Lifecycle } from './lifecycle.js';
import type { GaugeSources, Metrics } from './observability/metrics.js';
import { sharesTlsPort } from './options.js';
import type { ResolvedOptions } from './options.js';
import type { RoomBus } from './rooms/room-bus.js';
import type { Connection, ConnectionCensus } from './signaling/connection.actor.js';
import { CONNECTION_SUP_NAME, METRICS_LISTENER_NAME, SIGNALING_LISTENER_NAME, TURN_LISTENER_NAME } from './names.js';
import type { SignalingListener } from './signaling/listener.js';
import type { Addressable, ServerApi } from './api.js';
import { encodeEvent } from './signaling/protocol.js';
import type { TurnListener } from './turn/turn-listener.js';

/** What the server API reads. */
export interface ServerApiParts {
  options: ResolvedOptions;
  bus: RoomBus;
  registry: NameRegistry;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** With `redisUrl`: the cluster (ready only while its Redis is reachable). */
  cluster?: { readonly up: boolean } | null;
}

export function serverApi({ options, bus, registry, metrics, lifecycle, cluster = null }: ServerApiParts): ServerApi {
  const connections = () => registry.whereis<DynamicSupervisor<Connection>>(CONNECTION_SUP_NAME);
  const address = (name: string) => registry.whereis<Addressable>(name)?.address() ?? null;
  return {
    signalingAddress: () => address(SIGNALING_LISTENER_NAME),
    turnAddress: () => address(TURN_LISTENER_NAME),
    turnAddresses: () => {
      const turn = registry.whereis<TurnListener>(TURN_LISTENER_NAME)?.addresses() ?? null;
      if (turn === null || !sharesTlsPort(options)) return turn;
      return { ...turn, tls: address(SIGNALING_LISTENER_NAME) };
    },
    metricsAddress: () => address(METRICS_LISTENER_NAME),
    peers: (room) => bus.members(room).map((m) => ({ peerId: m.peerId, username: m.username })),
    rooms: () => bus.rooms().map((room) => ({ room, members: bus.members(room).length })),
    publish: (room, event, data) => {
      const recipients = bus.broadcast(room, Buffer.from(encodeEvent(event, data)));
      if (recipients > 0) metrics.published.inc();
      return recipients;
    },
    send: (peerId, event, data) => bus.sendToPeer(peerId, Buffer.from(encodeEvent(event, data))),
    kick: (peerId) => {
      const connection = connections()?.child(peerId);
      if (!connection) return bus.kickElsewhere(peerId);
      connection.kick();
      return true;
    },
    tree: () => {
      const worker = lifecycle.current;
      if (!worker) return [];
      const children = isInspectable(worker) ? worker.whichChildren() : [];
      return [{ id: 'root_sup', type: 'supervisor', restart: 'permanent', state: 'running', restarts: 0, children }];
    },
    reloadTls: () => {
      const result = registry.whereis<SignalingListener>(SIGNALING_LISTENER_NAME)?.reloadTls() ?? { reloaded: false, reason: 'the signaling listener is not running' };
      if (result.reloaded) {
        try {
          registry.whereis<TurnListener>(TURN_LISTENER_NAME)?.reloadTls();
        } catch {
          // the files were just read by signaling: a change in between keeps TURN's current pair
        }
      }
      return result;
    },
    health: () => {
      const signaling = registry.whereis(SIGNALING_LISTENER_NAME) !== undefined;
      const turn = options.turnPort === false ? null : registry.whereis(TURN_LISTENER_NAME) !== undefined;
      const draining = lifecycle.draining;
      const clusterUp = cluster === null ? null : cluster.up;
      const ready = signaling && turn !== false && clusterUp !== false && !draining;
      return { ready, draining, listeners: { signaling, turn }, ...(clusterUp === null ? {} : { cluster: clusterUp }) };
    },
  };
}

/** Where the metrics gauges read from: counts kept as things change, nothing walked. */
export function gaugeSources(bus: RoomBus, census: ConnectionCensus, registry: NameRegistry, cluster: { readonly up: boolean } | null = null): GaugeSources {
  return {
    clusterUp: () => (cluster === null ? null : cluster.up ? 1 : 0),
    connectionsByState: () => ({ ...census }),
    rooms: () => bus.counts(),
    turn: () => {
      const stats = registry.whereis<TurnListener>(TURN_LISTENER_NAME)?.stats();
      return stats ? { allocations: stats.allocations, permissions: stats.permissions, channels: stats.channels } : null;
    },
  };
}
