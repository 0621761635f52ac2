/**
 * room_sup: one child per room, started on demand (simple_one_for_one).
 * Rooms are temporary: a room's state is its members, so a crashed room is
 * not restarted (see src/rooms/room-directory.ts for what its members see).
 * The directory is the face the rest of the server joins rooms through.
 */
import { ROOM_SUP_NAME } from '../src/names.js';
import { DynamicSupervisor } from '../src/otp/dynamic-supervisor.js';
import type { ChildTemplate } from '../src/otp/dynamic-supervisor.js';
import type { SupervisorContext } from '../src/otp/supervisor.js';
import type { ChildSpec, Worker } from '../src/otp/worker.js';

export const ROOM_SUP_FLAGS = { intensity: 10, period: 10_000 };
export const ROOM_CHILD: ChildTemplate = { restart: 'temporary', shutdown: 1_000, type: 'worker' };

export function roomSupSpec<R extends Worker>(directoryOver: (rooms: DynamicSupervisor<R>) => Worker, context: SupervisorContext): ChildSpec {
  return {
    id: ROOM_SUP_NAME,
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 15_000,
    start: () => directoryOver(new DynamicSupervisor<R>(ROOM_SUP_NAME, ROOM_SUP_FLAGS, ROOM_CHILD, context.logger, null, context.observer)),
  };
}
