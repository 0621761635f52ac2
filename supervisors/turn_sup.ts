/**
 * turn_sup (one_for_one): one child per TURN listener; today one STUN/TURN
 * UDP listener on `turnPort`, none when `turnPort` is false. A listener whose
 * engine fails is restarted on the same port (src/turn/turn-listener.ts).
 */
import type { DependencyContainer } from 'tsyringe';
import { LOGGER, OPTIONS, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import { startTurnListener } from '../src/turn/turn-listener.js';
import { TURN_LISTENER_NAME } from '../src/names.js';
import { Supervisor } from '../src/otp/supervisor.js';
import type { SupervisorFlags } from '../src/otp/supervisor.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const TURN_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 5, period: 10_000 };

/** The TURN listeners to run. */
export function turnChildSpecs(c: DependencyContainer): ChildSpec[] {
  if (c.resolve(OPTIONS).turnPort === false) return [];
  return [
    { id: TURN_LISTENER_NAME, type: 'worker', restart: 'permanent', shutdown: 5_000, start: () => startTurnListener(c) },
  ];
}

export function turnSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'turn_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 10_000,
    start: () => new Supervisor('turn_sup', TURN_SUP_FLAGS, turnChildSpecs(c), c.resolve(LOGGER), c.resolve(SUPERVISOR_OBSERVER)).start(),
  };
}
