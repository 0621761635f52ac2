/**
 * turn_sup (one_for_one): one child per TURN listener; today one STUN/TURN
 * UDP listener on `turnPort`, none when `turnPort` is false. A listener whose
 * engine fails is restarted on the same port (src/turn/turn-listener.ts).
 */
import { TURN_LISTENER_NAME } from '../src/names.js';
import { supervisorSpec } from '../src/otp/supervisor.js';
import type { SupervisorContext, SupervisorFlags } from '../src/otp/supervisor.js';
import type { ChildSpec, Worker } from '../src/otp/worker.js';

export const TURN_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 5, period: 10_000 };

/** The TURN listener, permanent; null when TURN is off. */
export function turnListenerSpec(start: (() => Promise<Worker>) | null): ChildSpec | null {
  return start && { id: TURN_LISTENER_NAME, type: 'worker', restart: 'permanent', shutdown: 5_000, start };
}

export function turnSupSpec(listener: ChildSpec | null, context: SupervisorContext): ChildSpec {
  return supervisorSpec('turn_sup', TURN_SUP_FLAGS, listener ? [listener] : [], context, 10_000);
}
