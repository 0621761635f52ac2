/**
 * connection_sup: one child per WebSocket (ranch's conns_sup). Connections
 * are temporary. Stopping it closes every socket with 1001 at once (each
 * member leaves its room first, so the others see `left`), then waits.
 */
import type { DependencyContainer } from 'tsyringe';
import { LOGGER, REGISTRY, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import type { Connection } from '../src/signaling/connection.actor.js';
import { CONNECTION_SUP_NAME } from '../src/names.js';
import { DynamicSupervisor } from '../src/otp/dynamic-supervisor.js';
import type { ChildTemplate } from '../src/otp/dynamic-supervisor.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const CONNECTION_SUP_FLAGS = { intensity: 0, period: 1_000 };
export const CONNECTION_CHILD: ChildTemplate = { restart: 'temporary', shutdown: 5_000, type: 'worker' };

export function connectionSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: CONNECTION_SUP_NAME,
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 10_000,
    start: () => new DynamicSupervisor<Connection>(CONNECTION_SUP_NAME, CONNECTION_SUP_FLAGS, CONNECTION_CHILD, c.resolve(LOGGER), c.resolve(REGISTRY), c.resolve(SUPERVISOR_OBSERVER)),
  };
}
