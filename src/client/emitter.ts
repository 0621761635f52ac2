/**
 * A small typed event emitter for the browser and Node (no EventTarget, no
 * Node `events`): `on(type, listener)` returns a function that removes it. A
 * listener that throws never breaks the emitter or the other listeners: its
 * error goes to `onListenerError`.
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown, type: keyof Events) => void = () => {}) {}

  /** Calls `listener` for every `type` event until the returned function is called. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Calls `listener` for the next `type` event only. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.listeners.get(type)?.delete(listener as Listener<never>);
  }

  /** Removes every listener (of `type`, or of all types). */
  removeAll(type?: keyof Events): void {
    if (type === undefined) this.listeners.clear();
    else this.listeners.delete(type);
  }

  protected emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.onListenerError(err, type);
      }
    }
  }
}
