/**
 * The connection actor: one per WebSocket. It moves through
 * `unauthenticated → authenticated → inRoom → closed` and decides what every
 * client frame means in each state (docs/protocol.md). It does no I/O itself:
 * sending, closing, joining a room and checking a password are named
 * effects that `connection.actor.ts` provides; time comes from the actor's
 * clock. Nothing here allocates per message beyond XState's own step.
 */
import { assign, setup } from 'xstate';
import { CloseCode, CloseReason } from '../errors.js';
import type { ForwardableFrame } from './forwarding.js';
import type { ClientFrame, Credentials, InvalidReason } from './protocol.js';
import { ServerFrames } from './protocol.js';

export interface ConnectionInput {
  peerId: string;
  room: string;
  /** The client's IP address (password checks are throttled per source). */
  source: string;
  authTimeout: number;
  maxAuthAttempts: number;
}

/** What a password check is given: the credentials and where they come from. */
export interface CheckInput extends Credentials {
  source: string;
}

export interface ConnectionContext {
  readonly peerId: string;
  readonly room: string;
  readonly source: string;
  readonly authTimeout: number;
  readonly maxAuthAttempts: number;
  /** The name the peer is known by in its room, once authenticated. */
  readonly username: string | null;
  /** Failed authentication attempts so far. */
  readonly failures: number;
  /** Frames that arrived while a password check or the room join was pending. */
  readonly deferred: readonly ClientFrame[];
}


export type ConnectionEvent =
  | ClientFrame
  /** No frame from the client for `idleTimeout`. */
  | { type: 'idle.timeout' }
  /** `authTimeout` passed since the connection opened (the timer `armAuthTimer` started). */
  | { type: 'auth.timeout' }
  /** The client stayed over `rateLimit` for `abuseSeconds`. */
  | { type: 'rate.exceeded' }
  /** The socket closed (by the client, or after our close). */
  | { type: 'socket.closed' }
  /** The server is shutting down. */
  | { type: 'server.shutdown' }
  /** An administrator kicked this peer. */
  | { type: 'server.kick' }
  /** Frames for this peer piled up unsent beyond the limit: it cannot keep up. */
  | { type: 'slow.consumer' }
  /** The room actor has admitted this peer. */
  | { type: 'room.joined' }
  /** The room actor failed: this peer is no longer in a room. */
  | { type: 'room.failed' }
  /** The answer to `checkCredentials`: the room-visible name when the password is right, else null. */
  | { type: 'auth.checked'; username: string | null }
  /** `checkCredentials` failed (the auth backend threw or rejected): a failed attempt. */
  | { type: 'auth.error'; error: unknown };

/** The states connections are counted in (`closed` ones are not counted). */
export type CountedState = 'unauthenticated' | 'authenticated' | 'inRoom' | 'closed';

type FrameType = ClientFrame['type'];
/** Every client frame, `ping` included: answers keep the order of the frames (as the original's did). */
const FRAME_TYPES: readonly FrameType[] = ['ping', 'frame.authenticate', 'frame.message', 'frame.invalid'];

const connectionSetup = setup({
  types: {
    context: {} as ConnectionContext,
    input: {} as ConnectionInput,
    events: {} as ConnectionEvent,
  },
  actions: {
    /** Sends a server frame (JSON text) to this client. */
    send: (_, _params: { frame: string }) => {},
    /** Answers a `ping` with a raw `pong`. */
    pong: () => {},
    /** Closes the socket with a close code. */
    close: (_, _params: { code: number; reason: string }) => {},
    /** Asks the room actor to admit this peer; it answers `room.joined`. */
    joinRoom: () => {},
    /** Tells the room actor this peer has left. */
    leaveRoom: () => {},
    /** Forwards a member's frame in its room (forwarding.ts: broadcast, unicast or invalid_message). */
    forward: (_, _params: { frame: ForwardableFrame }) => {},
    /**
     * While in the room, the connection forwards message frames itself
     * without a machine step each (the hot path); these two bracket it.
     */
    startForwarding: () => {},
    stopForwarding: () => {},
    /**
     * Checks the credentials of the `authenticate` frame in hand; the edge answers with
     * `auth.checked` (the room-visible name, or null) or `auth.error`. One check at a time:
     * the machine leaves `checking` only on its answer or for `closed`.
     */
    checkCredentials: (_, _params: CheckInput) => {},
    /**
     * Starts the authentication deadline: `auth.timeout` after `ms` of the actor's clock, unless
     * `disarmAuthTimer` comes first. (A plain timer at the edge rather than a delayed transition:
     * the delayed-event scheduler costs every connection more than the timer itself.)
     */
    armAuthTimer: (_, _params: { ms: number }) => {},
    disarmAuthTimer: () => {},
    /** Stops reading the client's frames while a password check is pending (backpressure, not a buffer). */
    holdReading: () => {},
    releaseReading: () => {},
    /** The connection is now in `state` (metrics count connections per state without walking them). */
    counted: (_, _params: { state: CountedState }) => {},
    /** Reports a failed authentication (metrics). */
    authFailed: () => {},
    /** Reports a frame answered with `invalid_message` instead of forwarded (metrics). */
    dropped: (_, _params: { reason: InvalidReason }) => {},
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    defer: assign({
      deferred: ({ context, event }) => [...context.deferred, event as ClientFrame],
    }),
  },
  guards: {
    hasCredentials: ({ event }) => event.type === 'frame.authenticate' && event.credentials !== null,
    isLastAttempt: ({ context }) => context.failures + 1 >= context.maxAuthAttempts,
    hasDeferred: ({ context }) => context.deferred.length > 0,
  },
});

/**
 * Frames deferred while a check or a join was pending are handled again, in order, in the new
 * state: an eventless transition taken only when there are some (resolving `enqueueActions`
 * costs a dozen closures, which every connection would pay on entering each state).
 */
const replayDeferred = {
  guard: 'hasDeferred',
  actions: connectionSetup.enqueueActions(({ context, enqueue }) => {
    for (const frame of context.deferred) enqueue.raise(frame);
    enqueue.assign({ deferred: [] });
  }),
} as const;

export const connectionMachine = connectionSetup.createMachine({
  id: 'connection',
  context: ({ input }) => ({
    peerId: input.peerId,
    room: input.room,
    source: input.source,
    authTimeout: input.authTimeout,
    maxAuthAttempts: input.maxAuthAttempts,
    username: null,
    failures: 0,
    deferred: [],
  }),
  initial: 'unauthenticated',
  on: {
    ping: { actions: 'pong' },
  },
  states: {
    unauthenticated: {
      initial: 'waiting',
      entry: [{ type: 'counted', params: { state: 'unauthenticated' } }, { type: 'armAuthTimer', params: ({ context }) => ({ ms: context.authTimeout }) }],
      exit: 'disarmAuthTimer',
      on: {
        'auth.timeout': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.NORMAL, reason: CloseReason.AUTH_TIMEOUT } } },
        'idle.timeout': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.NORMAL, reason: CloseReason.IDLE_TIMEOUT } } },
        'rate.exceeded': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.POLICY, reason: CloseReason.RATE_LIMIT } } },
        'server.shutdown': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.GOING_AWAY, reason: CloseReason.SHUTDOWN } } },
        'server.kick': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.POLICY, reason: CloseReason.KICKED } } },
        'slow.consumer': { target: 'closed', actions: { type: 'close', params: { code: CloseCode.POLICY, reason: CloseReason.SLOW_CONSUMER } } },
        'socket.closed': { target: 'closed' },
      },
      states: {
        waiting: {
          always: replayDeferred,
          on: {
            'frame.authenticate': [{ guard: 'hasCredentials', target: 'checking' }, ...rejectAttempt()],
            'frame.message': rejectAttempt(),
            'frame.invalid': rejectAttempt(),
          },
        },
        checking: {
          entry: [
            'holdReading',
            {
              type: 'checkCredentials',
              params: ({ event, context }) => ({ ...(event as Extract<ClientFrame, { type: 'frame.authenticate' }>).credentials!, source: context.source }),
            },
          ],
          exit: 'releaseReading',
          on: {
            'auth.checked': [
              {
                guard: ({ event }) => event.username !== null,
                target: '#connection.authenticated',
                actions: assign({ username: ({ event }) => (event as Extract<ConnectionEvent, { type: 'auth.checked' }>).username }),
              },
              ...rejectAttempt(),
            ],
            'auth.error': rejectAttempt(),
            ...deferFrames(),
          },
        },
      },
    },
    authenticated: {
      // The join may wait for a remote store (a cluster): frames wait in TCP buffers meanwhile.
      entry: [{ type: 'counted', params: { state: 'authenticated' } }, 'holdReading', 'joinRoom'],
      exit: 'releaseReading',
      on: {
        ...memberExits(),
        'room.joined': { target: 'inRoom' },
        ...deferFrames(),
      },
    },
    inRoom: {
      entry: [{ type: 'counted', params: { state: 'inRoom' } }, 'startForwarding'],
      exit: 'stopForwarding',
      always: replayDeferred,
      on: {
        ...memberExits(),
        'frame.message': { actions: { type: 'forward', params: ({ event }) => ({ frame: event }) } },
        'frame.invalid': { actions: { type: 'forward', params: ({ event }) => ({ frame: event }) } },
        'frame.authenticate': {
          actions: [
            { type: 'dropped', params: { reason: 'already_authenticated' } },
            { type: 'send', params: { frame: ServerFrames.invalid('already_authenticated') } },
          ],
        },
      },
    },
    closed: {
      type: 'final',
      entry: { type: 'counted', params: { state: 'closed' } },
    },
  },
});

/** A failed authentication: `unauthorized`, and close 1008 on the last allowed attempt. */
function rejectAttempt() {
  return [
    {
      guard: 'isLastAttempt',
      target: '#connection.closed',
      actions: [
        'countFailure',
        'authFailed',
        { type: 'send', params: { frame: ServerFrames.unauthorized() } },
        { type: 'close', params: { code: CloseCode.POLICY, reason: CloseReason.AUTH_ATTEMPTS } },
      ],
    },
    {
      target: '#connection.unauthenticated.waiting',
      actions: ['countFailure', 'authFailed', { type: 'send', params: { frame: ServerFrames.unauthorized() } }],
    },
  ] as const;
}

/** While a check or a join is pending, frames wait their turn. */
function deferFrames() {
  return Object.fromEntries(FRAME_TYPES.map((type) => [type, { actions: 'defer' }])) as Record<FrameType, { actions: 'defer' }>;
}

/** How a member's connection ends: it leaves its room first, then closes. */
function memberExits() {
  const leaveAndClose = (code: number, reason: string) => ({
    target: '#connection.closed',
    actions: ['leaveRoom', { type: 'close', params: { code, reason } }],
  }) as const;
  return {
    'idle.timeout': leaveAndClose(CloseCode.NORMAL, CloseReason.IDLE_TIMEOUT),
    'rate.exceeded': leaveAndClose(CloseCode.POLICY, CloseReason.RATE_LIMIT),
    'server.shutdown': leaveAndClose(CloseCode.GOING_AWAY, CloseReason.SHUTDOWN),
    'server.kick': leaveAndClose(CloseCode.POLICY, CloseReason.KICKED),
    'slow.consumer': leaveAndClose(CloseCode.POLICY, CloseReason.SLOW_CONSUMER),
    'socket.closed': { target: '#connection.closed', actions: 'leaveRoom' },
    'room.failed': {
      target: '#connection.closed',
      actions: { type: 'close', params: { code: CloseCode.INTERNAL, reason: CloseReason.ROOM_CRASHED } },
    },
  } as const;
}
