/**
 * Creates every XState actor of one server with the same clock (and, later,
 * the same inspector). A room is a root of its own system, found by name
 * through its supervisor, not through `system.get`, so that spawning one
 * costs nothing per existing actor.
 *
 * Connections are many and short-lived: without an inspector they share one
 * system, the host's (`createShared`). XState builds a system per root actor
 * (a dozen closures, three collections and a scheduler: about 1.8 KiB a
 * connection, every one of them copied by the young-generation collector
 * while the connection lives); a child of the host uses its parent's. The
 * host ignores what its children tell it (their done and error events); each
 * connection's owner watches its own actor. With an inspector on, every
 * actor stays a root of its own system so that it is shown under its
 * `systemId` (src/observability/inspector.ts).
 */
import { createActor, fromTransition } from 'xstate';
import type { Actor, AnyActorLogic, AnyActorRef, InputFrom } from 'xstate';
import type { Clock } from './clock.js';

export type InspectionObserver = NonNullable<Parameters<typeof createActor>[1]>['inspect'];

/** The host's logic: it keeps no state and ignores every event (its children's done and error events). */
const HOST_LOGIC = fromTransition((state: null) => state, null);

export class ActorFactory {
  /** The parent whose system connection actors share; null while inspecting. */
  private readonly host: AnyActorRef | null;

  constructor(
    private readonly clock: Clock,
    private readonly inspect: InspectionObserver | undefined = undefined,
  ) {
    this.host = inspect ? null : createActor(HOST_LOGIC, { clock }).start();
  }

  /** A root actor: a system of its own. */
  create<L extends AnyActorLogic>(logic: L, options: { systemId: string; input: InputFrom<L> }): Actor<L> {
    return createActor(logic, {
      systemId: options.systemId,
      input: options.input,
      clock: this.clock,
      ...(this.inspect ? { inspect: this.inspect } : {}),
    } as Parameters<typeof createActor<L>>[1]);
  }

  /**
   * An actor in the host's system (a root of its own while inspecting). It
   * cannot be stopped with `stop()` (XState refuses for a child): it ends by
   * reaching a final state, or failing.
   */
  createShared<L extends AnyActorLogic>(logic: L, options: { systemId: string; input: InputFrom<L> }): Actor<L> {
    if (this.host === null) return this.create(logic, options);
    return createActor(logic, {
      systemId: options.systemId,
      input: options.input,
      clock: this.clock,
      parent: this.host,
    } as Parameters<typeof createActor<L>>[1]);
  }
}
