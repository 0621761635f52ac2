/**
 * signaling_sup (rest_for_one), as ranch_listener_sup: the room supervisor
 * first, then the connection supervisor, then the listener (the acceptor).
 * A crash restarts the crashed child and every child started after it: the
 * connections cannot outlive the rooms they are in, nor the listener its
 * connection supervisor. Shutdown runs backwards: stop accepting, drain the
 * sockets (members leave their rooms), then stop the rooms.
 */
import type { DependencyContainer } from 'tsyringe';
import { ATTACH_TO, LOGGER, METRICS, OPTIONS, REGISTRY, SERVER_API, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import { HttpRoutes } from '../src/http/routes.js';
import { ConnectionFactory } from '../src/signaling/connection.actor.js';
import { SignalingListener } from '../src/signaling/listener.js';
import { connectionSupSpec } from './connection_sup.js';
import { roomSupSpec } from './room_sup.js';
import { Supervisor } from '../src/otp/supervisor.js';
import type { SupervisorFlags } from '../src/otp/supervisor.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const SIGNALING_SUP_FLAGS: SupervisorFlags = { strategy: 'rest_for_one', intensity: 3, period: 5_000 };

export function signalingListenerSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'signaling_listener',
    type: 'worker',
    restart: 'permanent',
    shutdown: 5_000,
    start: () => {
      const options = c.resolve(OPTIONS);
      const routes = new HttpRoutes(c.resolve(SERVER_API), c.resolve(METRICS), options.adminToken, {
        observability: options.metricsPort === null,
        example: options.dev,
      });
      return new SignalingListener(options, c.resolve(ConnectionFactory), c.resolve(REGISTRY), c.resolve(LOGGER), c.resolve(ATTACH_TO).server, routes, c.resolve(METRICS)).start();
    },
  };
}

export function signalingSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'signaling_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 30_000,
    start: () =>
      new Supervisor('signaling_sup', SIGNALING_SUP_FLAGS, [roomSupSpec(c), connectionSupSpec(c), signalingListenerSpec(c)], c.resolve(LOGGER), c.resolve(SUPERVISOR_OBSERVER)).start(),
  };
}
