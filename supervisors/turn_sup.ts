/**
 * turn_sup (one_for_one): one child per TURN listener. The slot is here so the
 * tree has its final shape; the STUN/TURN listener child is added by the TURN
 * work (issue "STUN/TURN that survives real calls"). Until then it has no
 * children and `turnAddress()` is null.
 */
import type { DependencyContainer } from 'tsyringe';
import { LOGGER } from '../src/di/tokens.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorFlags } from './supervisor.js';
import type { ChildSpec } from './worker.js';

export const TURN_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 5, period: 10_000 };

/** The TURN listeners to run: none yet. */
export function turnChildSpecs(_c: DependencyContainer): ChildSpec[] {
  return [];
}

export function turnSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'turn_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 10_000,
    start: () => new Supervisor('turn_sup', TURN_SUP_FLAGS, turnChildSpecs(c), c.resolve(LOGGER)).start(),
  };
}
