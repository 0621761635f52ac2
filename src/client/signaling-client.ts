/**
 * The signaling client of `webrtc-server/client`: one room, one member.
 *
 * - connects to `/websocket/<room>` and authenticates (PROTOCOL.md "Frames");
 * - sends `ping` every `pingIntervalMs` (under the server's `idleTimeout`, 60 s
 *   by default) and treats a missing `pong` after `pongTimeoutMs` as a dead
 *   line;
 * - when the socket drops, reconnects with a capped, jittered exponential
 *   backoff, authenticates again (a new peer id) and so rejoins the room. It
 *   stops for good on `unauthorized`, on a policy close (1008: kicked, too many
 *   attempts, rate limit) or a too-big close (1009), on `close()`, and after
 *   `reconnect.maxAttempts` failed attempts in a row;
 * - emits one typed event per server message (`authenticated`, `unauthorized`,
 *   `joined`, `left`, `invalid_message`, `pong`, peer messages as `message`,
 *   the application's `publish`/`send` frames as `server_event`).
 */
import { backoffDelay, resolveBackoff } from './backoff.js';
import type { BackoffOptions, ResolvedBackoff } from './backoff.js';
import { Emitter } from './emitter.js';
import { classify } from './server-messages.js';
import type { AuthenticatedMessage, InvalidMessage, JoinedMessage, LeftMessage, PeerInfo, PeerMessage, ServerEventMessage } from './server-messages.js';
import { CONNECTING, OPEN, roomUrl, setHandlers, webSocketConstructor } from './socket.js';
import type { WebSocketConstructor, WebSocketLike } from './socket.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface SignalingClientOptions {
  /** The server: `ws(s)://host:port`, or the `http(s)://` origin of the page. */
  url: string;
  room: string;
  /** The login, or a function asked before each (re)authentication (e.g. for expiring TURN-REST credentials). */
  credentials: Credentials | (() => Credentials | Promise<Credentials>);
  /** The WebSocket class; default: the global one (browsers, Node 22). On Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** ms between keepalive `ping`s (default 25 000; keep it under the server's `idleTimeout`). */
  pingIntervalMs?: number;
  /** ms to wait for `pong` before the line is taken as dead and reconnected (default 10 000). */
  pongTimeoutMs?: number;
  /** ms from opening a socket to `authenticated` (or `unauthorized`) before it is given up and retried (default 15 000). */
  connectTimeoutMs?: number;
  /** Backoff of reconnections, or `false` never to reconnect. */
  reconnect?: BackoffOptions | false;
  /** `send` refuses (returns false) while more than this many bytes wait in the socket (default 1 MiB). */
  maxBufferedBytes?: number;
}

export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'authenticated' | 'reconnecting' | 'closed';

/** Why the client stopped for good. */
export type ClosedCause = 'closed-by-client' | 'unauthorized' | 'policy' | 'gave-up' | 'no-reconnect';

/** Close codes after which reconnecting would only repeat the refusal. */
const FINAL_CLOSE_CODES = new Map<number, ClosedCause>([
  [1008, 'policy'],
  [1009, 'policy'],
]);

/** Our own close codes (4000–4999 are the application's). */
export const CLOSE_KEEPALIVE_TIMEOUT = 4000;
export const CLOSE_CREDENTIALS_FAILED = 4001;
export const CLOSE_CONNECT_TIMEOUT = 4002;

export interface SignalingEvents {
  /** Every change of `state`. */
  state: ClientState;
  /** The socket is open; authentication follows. `attempt` is 0 for the first connection. */
  open: { url: string; attempt: number };
  /** We are a member: our peer id and the earlier members. `reconnected` after a reconnection (a new peer id). */
  authenticated: AuthenticatedMessage & { reconnected: boolean };
  /** The server refused the login; the client has closed and will not reconnect. */
  unauthorized: { username: string };
  joined: JoinedMessage;
  left: LeftMessage;
  invalid_message: InvalidMessage;
  /** A message from another member (`from` set by the server). */
  message: PeerMessage;
  /** A frame from the server's application (`publish`, `send`, admin publish). */
  server_event: ServerEventMessage;
  /** The answer to our keepalive `ping`, with the round trip. */
  pong: { rttMs: number };
  /** A frame that is none of the above (ignored). */
  malformed: { text: string; why: string };
  /** The socket closed. With `willReconnect`, a `reconnecting` follows. */
  disconnected: { code: number; reason: string; willReconnect: boolean };
  /** A reconnection is scheduled in `delayMs` (attempt `attempt`, 1-based). */
  reconnecting: { attempt: number; delayMs: number };
  /** The client stopped for good. */
  closed: { code: number; reason: string; cause: ClosedCause };
  /** Something failed that the client handled (a listener threw, credentials could not be had, a socket could not be made). */
  error: { error: unknown; during: string };
}

const DEFAULT_PING_INTERVAL_MS = 25_000;
const DEFAULT_PONG_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name}: must be a positive number of ms, got ${value}`);
  return value;
}

export class SignalingClient extends Emitter<SignalingEvents> {
  readonly url: string;
  readonly room: string;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: ResolvedBackoff | null;
  private readonly maxBufferedBytes: number;
  private readonly credentials: SignalingClientOptions['credentials'];

  private currentState: ClientState = 'idle';
  private socket: WebSocketLike | null = null;
  private ownId: string | null = null;
  private readonly roster = new Map<string, PeerInfo>();
  /** Failed connection attempts since the last authentication. */
  private attempt = 0;
  private sessions = 0;
  private username = '';
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingSentAt: number | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set when the next close is final (unauthorized, close()). */
  private stopping: { cause: ClosedCause; code: number; reason: string } | null = null;

  constructor(options: SignalingClientOptions) {
    super((error, type) => {
      if (type !== 'error') this.emit('error', { error, during: `a "${String(type)}" listener` });
    });
    this.url = roomUrl(options.url, options.room);
    this.room = options.room;
    this.WebSocketClass = webSocketConstructor(options.WebSocket);
    this.pingIntervalMs = positive('pingIntervalMs', options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.pongTimeoutMs = positive('pongTimeoutMs', options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS);
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.backoff = options.reconnect === false ? null : resolveBackoff(options.reconnect);
    this.maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
    this.credentials = options.credentials;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** Our peer id while authenticated (a new one after each reconnection), else null. */
  get peerId(): string | null {
    return this.currentState === 'authenticated' ? this.ownId : null;
  }

  /** The other members of the room, in join order, while authenticated. */
  peers(): PeerInfo[] {
    return this.currentState === 'authenticated' ? [...this.roster.values()] : [];
  }

  /**
   * Connects (once; later calls just wait) and resolves with the first
   * `authenticated`; rejects when the client stops before (unauthorized,
   * `close()`, a final close, out of attempts).
   */
  connect(): Promise<SignalingEvents['authenticated']> {
    if (this.currentState === 'closed') return Promise.reject(new Error('client closed'));
    const result = new Promise<SignalingEvents['authenticated']>((resolve, reject) => {
      const offs = [
        this.once('authenticated', (a) => {
          offs.forEach((off) => off());
          resolve(a);
        }),
        this.once('closed', (c) => {
          offs.forEach((off) => off());
          reject(Object.assign(new Error(`signaling closed (${c.cause}, ${c.code}${c.reason ? ` ${c.reason}` : ''})`), { cause: c }));
        }),
      ];
    });
    if (this.currentState === 'idle') this.open();
    return result;
  }

  /** Sends `event` (with `data`) to the member `peerId` only. False when not a member or the socket is too far behind. */
  sendTo(peerId: string, event: string, data?: unknown): boolean {
    return this.send({ event, data, to: peerId });
  }

  /** Sends `event` (with `data`) to every other member. */
  broadcast(event: string, data?: unknown): boolean {
    return this.send({ event, data });
  }

  /** Sends one message object as it is (`to` picks the recipient; the server sets `from`). */
  send(message: { event: string; data?: unknown; to?: string; [key: string]: unknown }): boolean {
    const socket = this.socket;
    if (this.currentState !== 'authenticated' || !socket || socket.readyState !== OPEN) return false;
    if (socket.bufferedAmount > this.maxBufferedBytes) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /** Sends a keepalive `ping` now (the timer sends them anyway). */
  ping(): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send('ping');
    this.pingSentAt ??= now();
    this.pongTimer ??= setTimeout(() => this.abandon(CLOSE_KEEPALIVE_TIMEOUT, 'keepalive timeout: no pong'), this.pongTimeoutMs);
    return true;
  }

  /** Leaves the room and stops for good (no reconnection). */
  close(code = 1000, reason = 'closed by client'): void {
    if (this.currentState === 'closed') return;
    this.stopping = { cause: 'closed-by-client', code, reason };
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (this.socket) this.abandon(code, reason);
    else this.finish(code, reason);
  }

  // ---------------------------------------------------------------- connection

  private setState(state: ClientState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private open(): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketClass(this.url);
    } catch (error) {
      this.emit('error', { error, during: 'opening the WebSocket' });
      this.closed(1006, 'could not open a WebSocket');
      return;
    }
    this.socket = socket;
    this.connectTimer = setTimeout(() => this.abandon(CLOSE_CONNECT_TIMEOUT, 'connect timeout: not authenticated in time'), this.connectTimeoutMs);
    this.setState('connecting');
    setHandlers(socket, {
      onopen: () => this.opened(socket),
      onmessage: (event) => {
        if (typeof event.data === 'string') this.received(event.data);
      },
      onclose: (event) => {
        if (this.socket !== socket) return;
        this.detach();
        this.closed(event.code, event.reason);
      },
      onerror: () => {},
    });
  }

  private opened(socket: WebSocketLike): void {
    this.setState('authenticating');
    this.emit('open', { url: this.url, attempt: this.attempt });
    this.pingTimer = setInterval(() => this.ping(), this.pingIntervalMs);
    Promise.resolve()
      .then(() => (typeof this.credentials === 'function' ? this.credentials() : this.credentials))
      .then(
        ({ username, password }) => {
          if (this.socket !== socket || socket.readyState !== OPEN) return;
          this.username = username;
          socket.send(JSON.stringify({ event: 'authenticate', data: { username, password } }));
        },
        (error: unknown) => {
          if (this.socket !== socket) return;
          this.emit('error', { error, during: 'getting credentials' });
          this.abandon(CLOSE_CREDENTIALS_FAILED, 'no credentials');
        },
      );
  }

  private received(text: string): void {
    const frame = classify(text);
    switch (frame.kind) {
      case 'pong':
        if (this.pongTimer !== null) clearTimeout(this.pongTimer);
        this.pongTimer = null;
        if (this.pingSentAt !== null) this.emit('pong', { rttMs: now() - this.pingSentAt });
        this.pingSentAt = null;
        return;
      case 'authenticated': {
        this.clearConnectTimer();
        this.attempt = 0;
        this.ownId = frame.message.peerId;
        this.roster.clear();
        for (const peer of frame.message.peers) this.roster.set(peer.peerId, peer);
        this.setState('authenticated');
        this.emit('authenticated', { ...frame.message, reconnected: this.sessions++ > 0 });
        return;
      }
      case 'unauthorized':
        this.stopping = { cause: 'unauthorized', code: 1000, reason: 'unauthorized' };
        this.emit('unauthorized', { username: this.username });
        this.abandon(1000, 'unauthorized');
        return;
      case 'joined':
        this.roster.set(frame.message.peerId, frame.message);
        this.emit('joined', frame.message);
        return;
      case 'left':
        this.roster.delete(frame.message.peerId);
        this.emit('left', frame.message);
        return;
      case 'invalid_message':
        this.emit('invalid_message', frame.message);
        return;
      case 'peer':
        this.emit('message', frame.message);
        return;
      case 'server':
        this.emit('server_event', frame.message);
        return;
      case 'malformed':
        this.emit('malformed', { text: frame.text, why: frame.why });
        return;
    }
  }

  /** Stops the keepalive and detaches the socket (which may still be closing). */
  private detach(): void {
    this.clearConnectTimer();
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.pongTimer !== null) clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = this.pingSentAt = null;
    const socket = this.socket;
    this.socket = null;
    // An error handler stays: `ws` reports a close() before the handshake as an 'error' event.
    if (socket) setHandlers(socket, { onopen: null, onmessage: null, onclose: null, onerror: () => {} });
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  /** Closes the socket without waiting for its closing handshake (a dead line may never finish it). */
  private abandon(code: number, reason: string): void {
    const socket = this.socket;
    this.detach();
    if (socket && (socket.readyState === OPEN || socket.readyState === CONNECTING)) {
      try {
        socket.close(code, reason);
      } catch {
        // a code the socket refuses: it is detached anyway
      }
    }
    this.closed(code, reason);
  }

  /** The socket is gone: reconnect, or stop for good. */
  private closed(code: number, reason: string): void {
    this.roster.clear();
    const final = this.stopping ?? this.finalCause(code, reason);
    if (final) {
      this.emit('disconnected', { code, reason, willReconnect: false });
      this.finish(final.code, final.reason, final.cause);
      return;
    }
    this.attempt++;
    const delayMs = backoffDelay(this.backoff!, this.attempt);
    this.emit('disconnected', { code, reason, willReconnect: true });
    this.setState('reconnecting');
    this.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.currentState === 'reconnecting') this.open();
    }, delayMs);
  }

  /** Why a close from the server (or the network) is final; null when the client should reconnect. */
  private finalCause(code: number, reason: string): { cause: ClosedCause; code: number; reason: string } | null {
    const policy = FINAL_CLOSE_CODES.get(code);
    if (policy) return { cause: policy, code, reason };
    if (this.backoff === null) return { cause: 'no-reconnect', code, reason };
    if (this.attempt + 1 > this.backoff.maxAttempts) return { cause: 'gave-up', code, reason: `gave up after ${this.attempt} attempts (last close ${code}${reason ? ` ${reason}` : ''})` };
    return null;
  }

  private finish(code: number, reason: string, cause: ClosedCause = 'closed-by-client'): void {
    this.setState('closed');
    this.emit('closed', { code, reason, cause });
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
