/**
 * The WebSocket the client needs: the browser's global `WebSocket`, Node 22's,
 * or the `ws` package's class on Node 20 (`new SignalingClient({ WebSocket })`).
 * Only these members are used; the handler properties are typed loosely here
 * so that every one of those classes fits, and precisely in `SocketHandlers`.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  onclose: ((event: never) => unknown) | null;
  onerror: ((event: never) => unknown) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The same socket, with the handler types the client sets. */
export interface SocketHandlers {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export const OPEN = 1;
export const CONNECTING = 0;

/** `WebSocket` from the options, else the global one; a TypeError says what to do when there is none. */
export function webSocketConstructor(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof global === 'function') return global;
  throw new TypeError('no global WebSocket: pass one, e.g. new SignalingClient({ WebSocket: (await import("ws")).WebSocket, … })');
}

/** Sets the handlers of `socket` (null detaches them). */
export function setHandlers(socket: WebSocketLike, handlers: SocketHandlers): void {
  Object.assign(socket as unknown as SocketHandlers, handlers);
}

/**
 * The signaling URL of `room` on the server at `base` (`ws://host:port`,
 * `wss://…`, or an `http(s)://` page origin, which is turned into ws(s)://).
 */
export function roomUrl(base: string, room: string): string {
  if (room === '') throw new RangeError('room must not be empty');
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new RangeError(`server URL must be ws:, wss:, http: or https:, got ${url.protocol}`);
  return `${url.protocol}//${url.host}/websocket/${encodeURIComponent(room)}`;
}
