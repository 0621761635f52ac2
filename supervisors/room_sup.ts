/**
 * room_sup: one child per room, started on demand (simple_one_for_one).
 * Rooms are temporary: a room's state is its members, so a crashed room is
 * not restarted (see RoomDirectory for what its members see).
 */
import type { DependencyContainer } from 'tsyringe';
import { ACTOR_FACTORY, CALLBACK_RUNNER, LOGGER, REGISTRY, ROOM_BUS, SUPERVISOR_OBSERVER } from '../src/di/tokens.js';
import { RoomDirectory } from '../src/rooms/room-directory.js';
import type { RoomWorker } from '../src/rooms/room-directory.js';
import { DynamicSupervisor } from '../src/otp/dynamic-supervisor.js';
import type { ChildTemplate } from '../src/otp/dynamic-supervisor.js';
import type { ChildSpec } from '../src/otp/worker.js';

export const ROOM_SUP_FLAGS = { intensity: 10, period: 10_000 };
export const ROOM_CHILD: ChildTemplate = { restart: 'temporary', shutdown: 1_000, type: 'worker' };

export function roomSupSpec(c: DependencyContainer): ChildSpec {
  return {
    id: 'room_sup',
    type: 'supervisor',
    restart: 'permanent',
    shutdown: 15_000,
    start: () => {
      const logger = c.resolve(LOGGER);
      const rooms = new DynamicSupervisor<RoomWorker>('room_sup', ROOM_SUP_FLAGS, ROOM_CHILD, logger, null, c.resolve(SUPERVISOR_OBSERVER));
      return new RoomDirectory(rooms, c.resolve(ROOM_BUS), c.resolve(CALLBACK_RUNNER), c.resolve(ACTOR_FACTORY), logger, c.resolve(REGISTRY));
    },
  };
}
