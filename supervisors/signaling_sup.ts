/**
 * signaling_sup (rest_for_one), as ranch_listener_sup: the room supervisor
 * first, then the connection supervisor, then the listener (the acceptor).
 * A crash restarts the crashed child and every child started after it: the
 * connections cannot outlive the rooms they are in, nor the listener its
 * connection supervisor. Shutdown runs backwards: stop accepting, drain the
 * sockets (members leave their rooms), then stop the rooms.
 */
import { SIGNALING_LISTENER_NAME } from '../src/names.js';
import { supervisorSpec } from '../src/otp/supervisor.js';
import type { SupervisorContext, SupervisorFlags } from '../src/otp/supervisor.js';
import type { ChildSpec, Worker } from '../src/otp/worker.js';

export const SIGNALING_SUP_FLAGS: SupervisorFlags = { strategy: 'rest_for_one', intensity: 3, period: 5_000 };

export interface SignalingChildren {
  roomSup: ChildSpec;
  connectionSup: ChildSpec;
  /** Starts the http(s) listener (or attaches to the user's server). */
  listener: () => Promise<Worker>;
}

export function signalingSupSpec(children: SignalingChildren, context: SupervisorContext): ChildSpec {
  const listener: ChildSpec = { id: SIGNALING_LISTENER_NAME, type: 'worker', restart: 'permanent', shutdown: 5_000, start: children.listener };
  return supervisorSpec('signaling_sup', SIGNALING_SUP_FLAGS, [children.roomSup, children.connectionSup, listener], context, 30_000);
}
