/**
 * root_sup (one_for_one): the inspector relay (with `inspect`) first, so it
 * sees everything and stops last; then TURN, so that it stops after
 * signaling; then the signaling tree. The three are independent: a TURN
 * restart never touches a call's signaling, and the reverse.
 *
 *   root_sup (one_for_one)
 *   ├── inspector_relay                 with `inspect`: loopback relay for the Stately inspector
 *   ├── metrics_listener                with `metricsPort`: /metrics and /admin/* on 127.0.0.1
 *   ├── turn_sup (one_for_one)          TURN listeners
 *   └── signaling_sup (rest_for_one)
 *       ├── room_sup (dynamic)          one room actor per room
 *       ├── connection_sup (dynamic)    one connection actor per socket
 *       └── signaling_listener          http(s) + WebSocket upgrades
 */
import type { DependencyContainer } from 'tsyringe';
import { INSPECTION, LOGGER, METRICS, OPTIONS, REGISTRY, SERVER_API, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import { MetricsListener } from '../src/http/metrics-listener.js';
import { METRICS_LISTENER_NAME } from '../src/names.js';
import { HttpRoutes } from '../src/http/routes.js';
import { startInspectorRelay } from '../src/observability/inspector.js';
import { signalingSupSpec } from './signaling_sup.js';
import { Supervisor } from '../src/otp/supervisor.js';
import type { SupervisorFlags } from '../src/otp/supervisor.js';
import { turnSupSpec } from './turn_sup.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const ROOT_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 3, period: 10_000 };

export function rootSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'root_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 60_000,
    start: () =>
      new Supervisor('root_sup', ROOT_SUP_FLAGS, [...inspectorSpecs(c), ...metricsListenerSpecs(c), turnSupSpec(c), signalingSupSpec(c)], c.resolve(LOGGER), c.resolve(SUPERVISOR_OBSERVER)).start(),
  };
}

/** The loopback metrics listener, when `metricsPort` is set. */
export function metricsListenerSpecs(c: DependencyContainer): ChildSpec[] {
  const options = c.resolve(OPTIONS);
  const port = options.metricsPort;
  if (port === null) return [];
  return [
    {
      id: METRICS_LISTENER_NAME,
      type: 'worker',
      restart: 'permanent',
      shutdown: 2_000,
      start: () => {
        const routes = new HttpRoutes(c.resolve(SERVER_API), c.resolve(METRICS), options.adminToken, { observability: true, example: false });
        return MetricsListener.start(port, routes, c.resolve(REGISTRY), c.resolve(LOGGER));
      },
    },
  ];
}

/** The inspector relay, when `inspect` is on. */
export function inspectorSpecs(c: DependencyContainer): ChildSpec[] {
  const { inspection } = c.resolve(INSPECTION);
  const port = c.resolve(OPTIONS).inspect;
  if (inspection === null || port === null) return [];
  return [
    { id: 'inspector_relay', type: 'worker', restart: 'permanent', shutdown: 2_000, start: () => startInspectorRelay(port, inspection, c.resolve(LOGGER)) },
  ];
}
