/**
 * root_sup (one_for_one): the inspector relay (with `inspect`) first, so it
 * sees everything and stops last; then TURN, so that it stops after
 * signaling; then the signaling tree. The three are independent: a TURN
 * restart never touches a call's signaling, and the reverse.
 *
 *   root_sup (one_for_one)
 *   ├── inspector_relay                 with `inspect`: loopback relay for the Stately inspector
 *   ├── metrics_listener                with `metricsPort`: /metrics and /admin/* on 127.0.0.1
 *   ├── cluster_node                    with `redisUrl`: this server in the cluster (stops after signaling)
 *   ├── turn_sup (one_for_one)          TURN listeners
 *   └── signaling_sup (rest_for_one)
 *       ├── room_sup (dynamic)          one room actor per room
 *       ├── connection_sup (dynamic)    one connection actor per socket
 *       └── signaling_listener          http(s) + WebSocket upgrades
 */
import { CLUSTER_NODE_NAME, METRICS_LISTENER_NAME } from '../src/names.js';
import { supervisorSpec } from '../src/otp/supervisor.js';
import type { SupervisorContext, SupervisorFlags } from '../src/otp/supervisor.js';
import type { ChildSpec, Worker } from '../src/otp/worker.js';

export const ROOT_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 3, period: 10_000 };

export interface RootChildren {
  /** With `redisUrl`: keeps this server in the cluster. */
  clusterNode: (() => Promise<Worker>) | null;
  /** With `inspect`. */
  inspectorRelay: (() => Promise<Worker>) | null;
  /** With `metricsPort`. */
  metricsListener: (() => Promise<Worker>) | null;
  turnSup: ChildSpec;
  signalingSup: ChildSpec;
}

export function rootSupSpec(children: RootChildren, context: SupervisorContext): ChildSpec {
  const optional = (id: string, start: (() => Promise<Worker>) | null): ChildSpec[] =>
    start ? [{ id, type: 'worker', restart: 'permanent', shutdown: 2_000, start }] : [];
  return supervisorSpec('root_sup', ROOT_SUP_FLAGS, [
    ...optional('inspector_relay', children.inspectorRelay),
    ...optional(METRICS_LISTENER_NAME, children.metricsListener),
    ...optional(CLUSTER_NODE_NAME, children.clusterNode),
    children.turnSup,
    children.signalingSup,
  ], context, 60_000);
}
