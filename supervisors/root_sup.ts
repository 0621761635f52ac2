/**
 * root_sup (one_for_one): TURN first, so that it stops last; then the
 * signaling tree. The two are independent: a TURN restart never touches a
 * call's signaling, and the reverse.
 *
 *   root_sup (one_for_one)
 *   ├── turn_sup (one_for_one)          TURN listeners
 *   └── signaling_sup (rest_for_one)
 *       ├── room_sup (dynamic)          one room actor per room
 *       ├── connection_sup (dynamic)    one connection actor per socket
 *       └── signaling_listener          http(s) + WebSocket upgrades
 */
import type { DependencyContainer } from 'tsyringe';
import { LOGGER, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import { signalingSupSpec } from './signaling_sup.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorFlags } from './supervisor.js';
import { turnSupSpec } from './turn_sup.js';
import type { ChildSpec } from './worker.js';

export const ROOT_SUP_FLAGS: SupervisorFlags = { strategy: 'one_for_one', intensity: 3, period: 10_000 };

export function rootSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'root_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 60_000,
    start: () => new Supervisor('root_sup', ROOT_SUP_FLAGS, [turnSupSpec(c), signalingSupSpec(c)], c.resolve(LOGGER), c.resolve(SUPERVISOR_OBSERVER)).start(),
  };
}
