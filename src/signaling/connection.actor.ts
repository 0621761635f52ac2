/**
 * The edge between a WebSocket and its connection actor. It turns socket
 * events into machine events (after the rate limit and the idle clock), and
 * provides the machine's named effects: sending, closing, joining and
 * leaving the room, fanning messages out through the room bus. The machine
 * is provided once per server; per-connection state lives in `Connection`.
 */
import 'reflect-metadata'; // tsyringe needs it loaded before any decorator runs
import { inject, injectable } from 'tsyringe';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import type { Actor } from 'xstate';
import { ExitLink } from '../otp/worker.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { ActorFactory } from '../actor-factory.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Clock } from '../clock.js';
import { ACTOR_FACTORY, AUTHENTICATOR, CLOCK, GUESS_THROTTLE, LOGGER, LOGINS, METRICS, OPTIONS, REGISTRY, ROOM_BUS } from '../di/tokens.js';
import { CheckQueue } from '../auth/check-queue.js';
import type { CheckOutcome, SignalingGate } from '../auth/check-queue.js';
import type { Metrics } from '../observability/metrics.js';
import type { LoginListener } from '../auth/logins.js';
import { CloseCode, CloseReason } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { NameRegistry } from '../otp/registry.js';
import { ROOM_SUP_NAME } from '../names.js';
import type { RoomDirectory } from '../rooms/room-directory.js';
import type { Member, MemberSink, RoomBus } from '../rooms/room-bus.js';
import { connectionMachine } from './connection.machine.js';
import type { ConnectionEvent, CountedState } from './connection.machine.js';
import { IdleWatch } from './idle-watch.js';
import { forwardFrame, fromTail } from './forwarding.js';
import type { ForwardableFrame, Sender } from './forwarding.js';
import { parseClientFrame, readClientFrame } from './protocol.js';
import { FrameBudget } from './rate-limiter.js';
import { PauseReason, ReadPause } from './read-pause.js';
import { TextFrames } from './text-frames.js';
import { WriteCoalescer } from './write-coalescer.js';
import type { Socket } from 'node:net';


const PONG = Buffer.from('pong');
const RATE_EXCEEDED: ConnectionEvent = { type: 'rate.exceeded' };
const IDLE: ConnectionEvent = { type: 'idle.timeout' };
const AUTH_TIMEOUT: ConnectionEvent = { type: 'auth.timeout' };
const SOCKET_CLOSED: ConnectionEvent = { type: 'socket.closed' };
const SHUTDOWN: ConnectionEvent = { type: 'server.shutdown' };
const ROOM_FAILED: ConnectionEvent = { type: 'room.failed' };
const KICK: ConnectionEvent = { type: 'server.kick' };
const SLOW_CONSUMER: ConnectionEvent = { type: 'slow.consumer' };
/** A close reason is at most 123 bytes (RFC 6455 §5.5); a client's is cut there in the log. */
const MAX_LOGGED_REASON_BYTES = 123;
/** Bytes waiting to be sent to one member beyond which it is closed (1008) rather than buffered further. */
export const SLOW_CONSUMER_BYTES = 8 * 1024 * 1024;

type ConnectionActor = Actor<typeof connectionMachine>;

const TIMED_OUT = Symbol('timed out');

/**
 * `promise`, or TIMED_OUT once `ms` have passed: a password check has a
 * deadline (the connection itself is closed at its `authTimeout`), so that a
 * backend that never answers holds no guess token for ever.
 */
function withDeadline<T>(promise: Promise<T>, clock: Clock, ms: number): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(TIMED_OUT), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Open connections per state. */
export type ConnectionCensus = Record<Exclude<CountedState, 'closed'>, number>;

@injectable()
export class ConnectionFactory {
  readonly machine;
  readonly coalescer = new WriteCoalescer();
  /** Frames fanned out to a room are encoded once for all their recipients. */
  readonly frames = new TextFrames();
  /** Open connections per state, kept as they move (a scrape reads it in O(1)). */
  readonly census: ConnectionCensus = { unauthenticated: 0, authenticated: 0, inRoom: 0 };
  /** The inspector is on: every frame goes through the actor, parsed, so that it shows there. */
  readonly inspected: boolean;
  /** The Connection behind each actor, for the effects provided below. */
  private readonly connections = new WeakMap<object, Connection>();

  constructor(
    @inject(OPTIONS) readonly options: ResolvedOptions,
    @inject(AUTHENTICATOR) authenticator: Authenticator,
    @inject(ROOM_BUS) readonly bus: RoomBus,
    @inject(REGISTRY) private readonly registry: NameRegistry,
    @inject(CLOCK) readonly clock: Clock,
    @inject(ACTOR_FACTORY) readonly actors: ActorFactory,
    @inject(LOGGER) readonly logger: Logger,
    @inject(METRICS) readonly metrics: Metrics,
    @inject(LOGINS) logins: LoginListener,
    @inject(GUESS_THROTTLE) guesses: SignalingGate,
  ) {
    this.inspected = options.inspect !== null;
    const checks = new CheckQueue(guesses, clock);
    const of = (self: object): Connection => this.connections.get(self)!;
    this.machine = connectionMachine.provide({
      actions: {
        send: ({ self }, { frame }) => of(self).write(frame),
        pong: ({ self }) => of(self).write(PONG),
        close: ({ self }, { code, reason }) => of(self).close(code, reason),
        joinRoom: ({ self, context }) => {
          const connection = of(self);
          const directory = this.directory();
          if (!directory) return connection.evicted();
          connection.member = { peerId: context.peerId, username: context.username!, sink: connection };
          if (this.logger.isLevelEnabled('info')) connection.log.info({ username: context.username }, 'joined');
          directory.join(context.room, connection.member, self);
        },
        leaveRoom: ({ context }) => this.directory()?.leave(context.room, context.peerId),
        forward: ({ self }, { frame }) => of(self).forward(frame),
        // With the inspector on, every frame goes through the actor so that it shows there.
        startForwarding: ({ self }) => {
          of(self).forwarding = !this.inspected;
        },
        stopForwarding: ({ self }) => {
          of(self).forwarding = false;
        },
        authFailed: ({ self }) => {
          metrics.authFailed('signaling');
          if (logger.isLevelEnabled('debug')) of(self).log.debug('authentication failed');
        },
        dropped: (_, { reason }) => metrics.drop(reason),
        counted: ({ self }, { state }) => of(self).counted(state),
        armAuthTimer: ({ self }, { ms }) => of(self).armAuthTimer(ms),
        disarmAuthTimer: ({ self }) => of(self).disarmAuthTimer(),
        holdReading: ({ self }) => of(self).holdReading(),
        releaseReading: ({ self }) => of(self).releaseReading(),
        // Guessing is throttled per source IP and username (shared with TURN). A successful login
        // is told to the login listener (TURN then accepts the same credentials). The answer comes
        // back to the actor as an event: no actor or abort controller per check.
        checkCredentials: ({ self }, input) => {
          const check = async (): Promise<string | null> => {
            // Refused while other checks from this IP (or for this name) are in flight, it waits for them (check-queue.ts).
            const verdict = await checks.admit(input.source, input.username, options.authTimeout);
            if (verdict !== 'ok') {
              metrics.authThrottled('signaling', verdict);
              return null;
            }
            let outcome: CheckOutcome = 'wrong';
            try {
              const name = await withDeadline(authenticator.check(input.username, input.password), clock, options.authTimeout);
              if (name === TIMED_OUT) {
                outcome = 'abandoned';
                throw new Error(`auth did not answer within authTimeout (${options.authTimeout} ms)`);
              }
              if (name !== null) {
                outcome = 'right';
                logins.loggedIn(input.username, input.password, name);
              }
              return name;
            } finally {
              checks.done(input.source, input.username, outcome);
            }
          };
          check().then(
            (username) => self.send({ type: 'auth.checked', username }),
            (error: unknown) => self.send({ type: 'auth.error', error }),
          );
        },
      },
    });
  }

  directory(): RoomDirectory | undefined {
    return this.registry.whereis<RoomDirectory>(ROOM_SUP_NAME);
  }

  /** Starts the connection actor of a freshly upgraded socket. */
  start(ws: WebSocket, room: string, peerId: string): Connection {
    const connection = new Connection(ws, room, peerId, this);
    this.connections.set(connection.actor, connection);
    connection.begin();
    return connection;
  }
}

/** One WebSocket and its actor: a supervised worker and a room member's sink. */
export class Connection implements Worker, MemberSink, Sender {
  readonly actor: ConnectionActor;
  member: Member | null = null;
  /** Set by the actor while it is `inRoom`: message frames then skip the machine (the hot path). */
  forwarding = false;
  private readonly budget: FrameBudget;
  private readonly reading: ReadPause;
  /** The timer of a rate-limit pause, while reading is paused for it. */
  private throttle: unknown = null;
  /** The authentication deadline, while the actor is unauthenticated. */
  private authTimer: unknown = null;
  /** Set once the socket is being closed: frames still parsed are ignored. */
  private closing = false;
  private readonly idle: IdleWatch;
  /** Set once the socket's 'close' was emitted. */
  private socketClosed = false;
  /** The TCP socket under `ws` (ws keeps it as `_socket`), for write coalescing. */
  private readonly socket: Socket;
  private readonly supervisorLink = new ExitLink();
  private stopping = false;
  /** The state this connection is counted in (the factory's census), or null once closed. */
  private countedIn: Exclude<CountedState, 'closed'> | null = null;
  /** Set once the client fell too far behind: nothing more is queued for it. */
  private slow = false;
  private logger: Logger | null = null;
  private tail: Buffer | null = null;
  /** The first close this server asked for (its code and reason are what the log line gives). */
  private closedByServer: { code: number; reason: string } | null = null;

  constructor(
    private readonly ws: WebSocket,
    readonly room: string,
    readonly peerId: string,
    private readonly factory: ConnectionFactory,
  ) {
    const { options, clock } = factory;
    this.socket = (ws as unknown as { _socket: Socket })._socket;
    this.budget = new FrameBudget(options.rateLimit, clock.now());
    this.reading = new ReadPause(ws);
    this.idle = new IdleWatch(clock, options.idleTimeout, () => this.actor.send(IDLE));
    this.actor = factory.actors.create(factory.machine, {
      systemId: `connection:${this.peerId}`,
      input: {
        peerId: this.peerId,
        room,
        source: this.socket.remoteAddress ?? '',
        authTimeout: options.authTimeout,
        maxAuthAttempts: options.maxAuthAttempts,
      },
    });
  }

  /** Sender: what ends the frames this member forwards (made on its first message). */
  get fromTail(): Buffer {
    this.tail ??= fromTail(this.peerId);
    return this.tail;
  }

  /** This connection's logger (a pino child carrying peer_id and room), made on first use. */
  get log(): Logger {
    this.logger ??= this.factory.logger.child({ peer_id: this.peerId, room: this.room });
    return this.logger;
  }

  begin(): void {
    const { ws, actor } = this;
    actor.subscribe({ error: (err) => this.crashed(err) });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received(data, isBinary));
    ws.on('ping', () => this.idle.touch());
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.factory.metrics.drop('too_big');
      if (this.factory.logger.isLevelEnabled('debug')) this.log.debug({ err }, 'socket error');
    });
    ws.once('close', (code: number, reason: Buffer) => {
      this.socketClosed = true;
      this.closing = true;
      this.stopTimers();
      this.actor.send(SOCKET_CLOSED);
      if (this.factory.logger.isLevelEnabled('info')) this.logEnd(code, reason);
      this.exited('normal');
    });
    actor.start();
  }

  private received(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const now = this.factory.clock.now();
    const pauseMs = this.budget.take(now);
    if (pauseMs > 0 && this.throttle === null) this.throttled(now, pauseMs);
    this.idle.touch(now);
    if (isBinary) {
      this.factory.metrics.drop('binary'); // binary frames are ignored (docs/protocol.md)
      return;
    }
    // Inspected, frames are parsed (the inspector shows the object); else read from their bytes.
    try {
      const frame = this.factory.inspected ? parseClientFrame(data.toString('utf8')) : readClientFrame(data);
      if (this.forwarding && (frame.type === 'frame.message' || frame.type === 'frame.invalid')) this.forward(frame);
      else this.actor.send(frame);
    } catch (err) {
      // A bug met by this client's frame ends this connection (1011), never the process (as a crashed actor).
      this.crashed(err);
    }
  }

  /**
   * Over the rate limit: the frame in hand is still handled, and reading
   * stops until the budget refills (the client's frames wait in TCP
   * buffers). Only a client over it for `abuseSeconds` is closed (1008).
   */
  private throttled(now: number, ms: number): void {
    this.factory.metrics.rateLimited('throttled');
    if (this.budget.pausing(now)) return this.abusive();
    this.reading.hold(PauseReason.RATE);
    this.throttle = this.factory.clock.setTimeout(this.throttleEnded, ms);
  }

  private readonly throttleEnded = (): void => {
    const left = this.budget.resume(this.factory.clock.now());
    if (left > 0) {
      this.throttle = this.factory.clock.setTimeout(this.throttleEnded, left);
      return;
    }
    this.throttle = null;
    if (left < 0) this.abusive();
    else this.reading.release(PauseReason.RATE);
  };

  private abusive(): void {
    this.factory.metrics.rateLimited('closed');
    this.log.info({ rateLimit: this.factory.options.rateLimit }, 'closed: over the rate limit for abuseSeconds');
    this.actor.send(RATE_EXCEEDED);
  }

  /** The actor entered `state`: moves this connection in the factory's census. */
  counted(state: CountedState | null): void {
    const census = this.factory.census;
    if (this.countedIn !== null) census[this.countedIn]--;
    this.countedIn = state === 'closed' ? null : state;
    if (this.countedIn !== null) census[this.countedIn]++;
  }

  /** Reading pauses while a password check is pending (frames would only be deferred). */
  holdReading(): void {
    this.reading.hold(PauseReason.CHECK);
  }

  releaseReading(): void {
    this.reading.release(PauseReason.CHECK);
  }

  armAuthTimer(ms: number): void {
    this.disarmAuthTimer();
    this.authTimer = this.factory.clock.setTimeout(this.authExpired, ms);
  }

  disarmAuthTimer(): void {
    if (this.authTimer !== null) this.factory.clock.clearTimeout(this.authTimer);
    this.authTimer = null;
  }

  private readonly authExpired = (): void => {
    this.authTimer = null;
    this.actor.send(AUTH_TIMEOUT);
  };

  private stopTimers(): void {
    this.idle.stop();
    this.disarmAuthTimer();
    if (this.throttle !== null) this.factory.clock.clearTimeout(this.throttle);
    this.throttle = null;
  }

  /** Forwards a frame in the room (for the actor's `forward` effect and the fast path alike). */
  forward(frame: ForwardableFrame): void {
    const { bus, metrics, frames } = this.factory;
    const answer = forwardFrame(bus, metrics, frames, this, frame);
    if (answer !== null) this.write(answer);
  }

  /** MemberSink: a frame from the room, serialized once for all recipients. */
  deliver(frame: Buffer): void {
    this.write(frame);
  }

  /** MemberSink: the room failed and dropped this member. */
  evicted(): void {
    this.actor.send(ROOM_FAILED);
  }

  /**
   * Every frame the server sends this client goes through here, whatever it
   * is (forwarded, joined/left, invalid_message, pong, publish): a client
   * that does not read is closed (1008) before more than SLOW_CONSUMER_BYTES
   * wait for it. Frames of one turn of the event loop leave in one write (the coalescer).
   */
  write(frame: Buffer | string): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN || this.slow) return;
    if (ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.slow = true;
      this.factory.metrics.drop('slow_consumer');
      this.actor.send(SLOW_CONSUMER);
      return;
    }
    this.factory.coalescer.hold(this.socket);
    // The listener has no permessage-deflate: a text frame is header + payload, written as one Buffer.
    this.socket.write(this.factory.frames.encode(typeof frame === 'string' ? Buffer.from(frame) : frame));
  }

  close(code: number, reason: string): void {
    this.closedByServer ??= { code, reason };
    this.closing = true;
    this.stopTimers();
    this.reading.releaseAll(); // the close handshake needs the client's close frame
    this.ws.close(code, reason);
  }

  /** Worker: close with 1001 (the member leaves its room first), wait for the socket. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Waited for only here (shutdown): no promise per connection otherwise.
    const closed = this.socketClosed ? null : new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.actor.send(SHUTDOWN);
    await closed;
  }

  /**
   * One info line as the socket ends: `left` for a member (it left its room),
   * `closed` for a connection that never joined; with the close code and
   * reason and who closed (`server`, or `client` with the client's own code).
   */
  private logEnd(code: number, reason: Buffer): void {
    const end = this.closedByServer
      ? { ...this.closedByServer, by: 'server' }
      : { code, reason: reason.toString('utf8', 0, Math.min(reason.length, MAX_LOGGED_REASON_BYTES)), by: 'client' };
    if (this.member) this.log.info({ username: this.member.username, ...end }, 'left');
    else this.log.info(end, 'closed');
  }

  /** An administrator kicks this peer: it leaves its room (`left` fires) and is closed with 1008. */
  kick(): void {
    if (this.factory.logger.isLevelEnabled('info')) this.log.info({ username: this.member?.username ?? null }, 'kicked by an administrator');
    this.factory.metrics.kicks.inc();
    this.actor.send(KICK);
  }

  /** Worker: the close handshake took too long. */
  kill(): void {
    this.ws.terminate();
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisorLink.onExit(listener);
  }

  /** A bug in the machine: leave the room, close with 1011, report the crash. */
  private crashed(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.log.error({ err: error }, 'connection actor crashed');
    if (this.member) this.factory.directory()?.leave(this.room, this.peerId);
    this.close(CloseCode.INTERNAL, CloseReason.INTERNAL);
    this.exited(error);
  }

  /** Told to the supervisor once, unless it is the one stopping us. */
  private exited(reason: ExitReason): void {
    this.counted(null);
    if (!this.stopping) this.supervisorLink.exit(reason);
  }
}
