/**
 * Creates every XState actor of one server with the same clock (and, later,
 * the same inspector). Each actor is a root of its own system: a room or a
 * connection is found by name through its supervisor, not through
 * `system.get`, so that spawning one costs nothing per existing actor.
 */
import { createActor } from 'xstate';
import type { Actor, AnyActorLogic, InputFrom } from 'xstate';
import type { Clock } from './clock.js';

export type InspectionObserver = NonNullable<Parameters<typeof createActor>[1]>['inspect'];

export class ActorFactory {
  constructor(
    private readonly clock: Clock,
    private readonly inspect: InspectionObserver | undefined = undefined,
  ) {}

  create<L extends AnyActorLogic>(logic: L, options: { systemId: string; input: InputFrom<L> }): Actor<L> {
    return createActor(logic, {
      systemId: options.systemId,
      input: options.input,
      clock: this.clock,
      ...(this.inspect ? { inspect: this.inspect } : {}),
    } as Parameters<typeof createActor<L>>[1]);
  }
}
