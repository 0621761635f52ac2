/**
 * turn_sup (one_for_one): with `turnThreads` > 0, one relay thread per
 * thread first (turn_relay_1..N: UDP on `turnPort`, one socket each, in one
 * SO_REUSEPORT group), then the listener (TCP/TLS streams on the same port
 * number); with 0, the listener alone serves UDP too; none when `turnPort`
 * is false. A relay thread that dies, or a listener whose engine fails, is
 * restarted on the same port (docs/turn-threads.md).
 *
 *   turn_sup (one_for_one)
 *   ├── turn_relay_1 … turn_relay_N   worker threads: UDP relay
 *   └── turn_listener                 STUN/TURN listener (TCP/TLS; UDP too without threads)
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

/** Relay thread `index` (1..N), permanent. */
export function turnRelaySpec(index: number, start: () => Promise<Worker>): ChildSpec {
  return { id: `turn_relay_${index}`, type: 'worker', restart: 'permanent', shutdown: 5_000, start };
}

export function turnSupSpec(listener: ChildSpec | null, context: SupervisorContext, relays: ChildSpec[] = []): ChildSpec {
  return supervisorSpec('turn_sup', TURN_SUP_FLAGS, listener ? [...relays, listener] : [], context, 10_000);
}
