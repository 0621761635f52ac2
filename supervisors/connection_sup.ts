/**
 * connection_sup: one child per WebSocket (ranch's conns_sup). Connections
 * are temporary. Stopping it closes every socket with 1001 at once (each
 * member leaves its room first, so the others see `left`), then waits.
 */
import { CONNECTION_SUP_NAME } from '../src/names.js';
import { DynamicSupervisor } from '../src/otp/dynamic-supervisor.js';
import type { ChildTemplate } from '../src/otp/dynamic-supervisor.js';
import type { NameRegistry } from '../src/otp/registry.js';
import type { SupervisorContext } from '../src/otp/supervisor.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const CONNECTION_SUP_FLAGS = { intensity: 0, period: 1_000 };
export const CONNECTION_CHILD: ChildTemplate = { restart: 'temporary', shutdown: 5_000, type: 'worker' };

/** Registered as `connection_sup`, where the listener finds it to start each connection. */
export function connectionSupSpec(registry: NameRegistry, context: SupervisorContext): ChildSpec {
  return {
    id: CONNECTION_SUP_NAME,
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 10_000,
    start: () => new DynamicSupervisor(CONNECTION_SUP_NAME, CONNECTION_SUP_FLAGS, CONNECTION_CHILD, context.logger, registry, context.observer),
  };
}
