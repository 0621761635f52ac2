/**
 * Creates every XState actor of one server with the same clock (and, later,
 * the same inspector). A room is a root of its own system, found by name
 * through its supervisor, not through `system.get`, so that spawning one
 * costs nothing per existing actor.
 *
 * Connections are many and short-lived: without an inspector they share one
 * system, the host's (`createShared`). XState builds a system per root actor
 * (a dozen closures, three collections and a scheduler: about 1.8 KiB that
 * live as long as the connection); a child of the host uses its parent's. A
 * failing child tells its parent: the host hands the error to that child's
 * `onError` (no observer per actor: `subscribe` costs another ~0.9 KiB), and
 * forgets the child once it is done or failed. A machine run here must not
 * use delayed events (`after`, delayed `sendTo`): as each child stops, XState
 * scans every event scheduled in its system. With an inspector on, every
 * actor stays a root of its own system so that it is shown under its
 * `systemId` (src/observability/inspector.ts).
 */
import { createActor, fromTransition } from 'xstate';
import type { Actor, AnyActorLogic, AnyActorRef, InputFrom } from 'xstate';
import type { Clock } from './clock.js';

export type InspectionObserver = NonNullable<Parameters<typeof createActor>[1]>['inspect'];

type ErrorListener = (err: unknown) => void;

/** What a child tells its parent as it ends: `xstate.done.actor.<id>` or `xstate.error.actor.<id>`. */
interface ChildEnded {
  type: string;
  actorId?: string;
  error?: unknown;
}

const ERROR_PREFIX = 'xstate.error.actor.';

/** A listener's own failure: rethrown on its own turn (as XState does for observers), unless told otherwise. */
const rethrowLater = (err: unknown): void => {
  setTimeout(() => {
    throw err;
  });
};

/**
 * The host's logic: its state is the error listener of each running child, by
 * the child's id. A listener that throws does not fail the host (which every
 * connection shares): the error goes to `reportError`.
 */
function hostLogic(reportError: (err: unknown) => void) {
  return fromTransition(
    (listeners: Map<string, ErrorListener>, event: ChildEnded) => {
      const id = event.actorId;
      if (id === undefined) return listeners;
      const listener = listeners.get(id);
      listeners.delete(id);
      if (listener && event.type.startsWith(ERROR_PREFIX)) {
        try {
          listener(event.error);
        } catch (err) {
          reportError(err);
        }
      }
      return listeners;
    },
    () => new Map<string, ErrorListener>(),
  );
}

export class ActorFactory {
  /** The parent whose system connection actors share; null while inspecting. */
  private readonly host: AnyActorRef | null;
  /** The host's state: each running child's error listener. */
  private readonly listeners: Map<string, ErrorListener> | null;

  constructor(
    private readonly clock: Clock,
    private readonly inspect: InspectionObserver | undefined = undefined,
    reportError: (err: unknown) => void = rethrowLater,
  ) {
    const host = inspect ? null : createActor(hostLogic(reportError), { clock }).start();
    this.host = host;
    this.listeners = host && host.getSnapshot().context;
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
   * An actor in the host's system (a root of its own while inspecting);
   * `onError` is told if it fails. It cannot be stopped with `stop()` (XState
   * refuses for a child): it ends by reaching a final state, or failing.
   */
  createShared<L extends AnyActorLogic>(logic: L, options: { systemId: string; input: InputFrom<L>; onError: ErrorListener }): Actor<L> {
    const { systemId, input, onError } = options;
    if (this.host === null || this.listeners === null) {
      const actor = this.create(logic, { systemId, input });
      actor.subscribe({ error: onError });
      return actor;
    }
    // The systemId is the child's id: unique, and what names it in what it tells the host. It is not
    // registered as a systemId: the system would keep each child in a WeakMap that outlives them all, an
    // ephemeron the young-generation collector rescans for every connection (nothing here calls system.get).
    this.listeners.set(systemId, onError);
    return createActor(logic, { id: systemId, input, clock: this.clock, parent: this.host } as Parameters<typeof createActor<L>>[1]);
  }
}
