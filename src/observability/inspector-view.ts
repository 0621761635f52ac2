/**
 * What the inspector relay's offline page shows: the current state of every
 * actor (supervisors, rooms, connections) and the last events, folded from
 * the inspection messages that pass through the relay (`@xstate.actor`,
 * `@xstate.snapshot`, `@xstate.event`, as `@statelyai/inspect` sends them).
 * Bounded: at most `VIEW_MAX_ACTORS` live actors (more are counted, not kept),
 * the last `VIEW_MAX_ENDED` ended ones, the last `VIEW_MAX_EVENTS` events,
 * and `VIEW_MAX_CONTEXT_CHARS` of each actor's context.
 */
export const VIEW_MAX_ACTORS = 1000;
export const VIEW_MAX_ENDED = 50;
export const VIEW_MAX_EVENTS = 100;
export const VIEW_MAX_CONTEXT_CHARS = 1024;
/** Events remembered per actor (its last ones). */
const EVENTS_PER_ACTOR = 5;

export type ActorKind = 'supervisor' | 'room' | 'connection' | 'other';

export interface ViewActor {
  id: string;
  kind: ActorKind;
  /** The machine's name (`connection`, `room`) or the invoke id. */
  name: string;
  parentId: string | null;
  /** XState status: `active`, `done`, `error`, `stopped`. */
  status: string;
  /** The state value, as `a.b` for nested states. */
  state: string;
  /** The context (redacted by the server), or a note that it was too large. */
  context: unknown;
  updatedAt: number;
  /** Its last event types, newest last. */
  events: string[];
}

export interface ViewEvent {
  at: number;
  actorId: string;
  type: string;
  sourceId: string | null;
}

export interface InspectorViewSnapshot {
  at: number;
  actors: ViewActor[];
  ended: ViewActor[];
  events: ViewEvent[];
  /** Actors not shown because `VIEW_MAX_ACTORS` were already. */
  untracked: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Children are named `<root id>::<invoke id>` (inspector.ts `inspectedId`). */
function kindOf(id: string, parentId: string | null): ActorKind {
  if (parentId !== null || id.includes('::')) return 'other';
  if (id.startsWith('supervisor:')) return 'supervisor';
  if (id.startsWith('room:')) return 'room';
  if (id.startsWith('connection:')) return 'connection';
  return 'other';
}

/** `'open'`, `{ a: 'b' }` → `'a.b'`, `{ a: { b: 'c' }, d: 'e' }` → `'a.b.c, d.e'`. */
export function stateText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!isObject(value)) return value === undefined ? '' : JSON.stringify(value);
  return Object.entries(value)
    .map(([k, v]) => (typeof v === 'string' ? `${k}.${v}` : isObject(v) && Object.keys(v).length > 0 ? `${k}.${stateText(v)}` : k))
    .join(', ');
}

function boundedContext(context: unknown): unknown {
  if (context === undefined) return null;
  let json: string;
  try {
    json = JSON.stringify(context);
  } catch {
    return '[unserializable]';
  }
  return json.length <= VIEW_MAX_CONTEXT_CHARS ? context : `[${json.length} characters: too large to show]`;
}

export class InspectorView {
  private readonly actors = new Map<string, ViewActor>();
  private readonly ended: ViewActor[] = [];
  private readonly events: ViewEvent[] = [];
  private untracked = 0;
  /** Bumped on every change. */
  version = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Folds one relayed message in; anything that is not an inspection message is ignored. */
  apply(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!isObject(message) || typeof message.sessionId !== 'string') return;
    const id = message.sessionId;
    switch (message.type) {
      case '@xstate.actor':
        this.upsert(id, message.snapshot, typeof message.name === 'string' ? message.name : id, typeof message.parentId === 'string' ? message.parentId : null);
        break;
      case '@xstate.snapshot':
        this.upsert(id, message.snapshot, null, null);
        break;
      case '@xstate.event': {
        const type = isObject(message.event) && typeof message.event.type === 'string' ? message.event.type : '?';
        this.events.push({ at: this.now(), actorId: id, type, sourceId: typeof message.sourceId === 'string' ? message.sourceId : null });
        if (this.events.length > VIEW_MAX_EVENTS) this.events.shift();
        const actor = this.actors.get(id);
        if (actor) {
          actor.events.push(type);
          if (actor.events.length > EVENTS_PER_ACTOR) actor.events.shift();
        }
        this.version++;
        break;
      }
      default:
        return;
    }
  }

  private upsert(id: string, snapshot: unknown, name: string | null, parentId: string | null): void {
    const s = isObject(snapshot) ? snapshot : {};
    let actor = this.actors.get(id);
    if (!actor) {
      if (this.actors.size >= VIEW_MAX_ACTORS) {
        this.untracked++;
        return;
      }
      actor = { id, kind: kindOf(id, parentId), name: name ?? id, parentId, status: 'active', state: '', context: null, updatedAt: 0, events: [] };
      this.actors.set(id, actor);
    }
    if (name !== null) actor.name = name;
    if (parentId !== null) actor.parentId = parentId;
    if (typeof s.status === 'string') actor.status = s.status;
    if ('value' in s) actor.state = stateText(s.value);
    if ('context' in s) actor.context = boundedContext(s.context);
    actor.updatedAt = this.now();
    if (actor.status !== 'active') {
      this.actors.delete(id);
      this.ended.push(actor);
      if (this.ended.length > VIEW_MAX_ENDED) this.ended.shift();
    }
    this.version++;
  }

  snapshot(): InspectorViewSnapshot {
    return { at: this.now(), actors: [...this.actors.values()], ended: [...this.ended], events: [...this.events], untracked: this.untracked };
  }
}
