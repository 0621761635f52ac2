/**
 * The Stately inspector (docs/configuration.md `inspect`): every actor of the server
 * (connections, rooms, supervisors, TURN) reports to `@statelyai/inspect`'s
 * WebSocket inspector, which talks to a relay we run on 127.0.0.1 only. The
 * relay forwards each message to every other client as text and replays the
 * last 200 (at most 4 MiB) to a newly connected one, like the package's own
 * relay, and serves a page at http://127.0.0.1:<port>/ that embeds the Stately
 * inspector (which needs internet), and a built-in view at `/offline` that
 * needs none: it draws the supervisor tree, rooms, connections and last events
 * from an `InspectorView` the relay folds from the messages it relays, pushed
 * to the page over `/offline/stream`. Only the relay's pages (their origin)
 * and local processes (no Origin) may connect: any other web page the
 * operator has open gets 403.
 *
 * Secrets never leave the process: every inspection event is redacted
 * (`password`, `secret`, `adminToken`, `credentials` values) and stripped of
 * sockets and actor references before it is sent.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { ExitReason, SupervisorObserver, SupervisorSnapshot, Worker } from '../otp/worker.js';
import { ReplayBuffer } from './replay-buffer.js';
import { InspectorView } from './inspector-view.js';
import { offlinePage, offlineUrl } from './inspector-offline-page.js';

/** Messages the relay replays to a new client... */
export const INSPECTOR_REPLAY = 200;
/** ...and at most this many bytes of them. */
export const INSPECTOR_REPLAY_BYTES = 4 * 1024 * 1024;
/** Largest message the relay accepts; a larger one closes its sender with 1009. */
export const INSPECTOR_MAX_PAYLOAD = 1024 * 1024;
/** Relay clients at once (the server's inspector and the pages); more get HTTP 503. */
export const INSPECTOR_MAX_CLIENTS = 16;
/** While more than this waits to be sent to a client, it is sent nothing more... */
export const INSPECTOR_SLOW_CLIENT_BYTES = 8 * 1024 * 1024;
/** ...and once that has lasted this many ms (it stopped reading), it is dropped. */
export const INSPECTOR_STALL_MS = 5_000;
/** The offline view is pushed to its pages at most this often. */
export const INSPECTOR_VIEW_INTERVAL_MS = 250;
/** The path of the offline view's stream (a WebSocket). */
const VIEW_STREAM_PATH = '/offline/stream';
const SECRET_KEYS = new Set(['password', 'secret', 'adminToken', 'credential']);
/** Live objects that must not be serialized (sockets, actor refs, sinks). */
const DROPPED_KEYS = new Set(['sink', 'requester', 'ws', 'socket', 'actorRef', '_parent', 'system']);
const REDACTED = '[redacted]';

/** A deep copy of `value` with every secret redacted and live objects dropped. */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' ? undefined : value;
  if (seen.has(value) || depth > 12) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (DROPPED_KEYS.has(key)) continue;
    out[key] = SECRET_KEYS.has(key) ? REDACTED : redact(v, depth + 1, seen);
  }
  return out;
}

/** An inspection message larger than this is sent shortened (the relay closes a sender over INSPECTOR_MAX_PAYLOAD). */
export const INSPECTOR_EVENT_BYTES = INSPECTOR_MAX_PAYLOAD / 2;
/** Longest string kept at the top level of a shortened message. */
const SHORT_STRING = 1024;

/**
 * `event` itself when its JSON fits in `limit` bytes; otherwise a shortened
 * copy: its short top-level fields, the snapshot's `status` and `value`, the
 * event's `type`, and `truncated` saying how large it was. So one huge event
 * (a large frame with `maxMessageBytes` raised) never cuts the server off
 * from the relay.
 */
export function fitForRelay(event: unknown, limit = INSPECTOR_EVENT_BYTES): unknown {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return event;
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch {
    json = undefined;
  }
  const bytes = json === undefined ? Infinity : Buffer.byteLength(json);
  if (bytes <= limit) return event;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (typeof value === 'string' ? value.length <= SHORT_STRING : typeof value !== 'object' || value === null) out[key] = value;
  }
  const { snapshot, event: inner } = event as { snapshot?: unknown; event?: unknown };
  if (typeof snapshot === 'object' && snapshot !== null) {
    const { status, value } = snapshot as { status?: unknown; value?: unknown };
    out.snapshot = { status, value: small(value) ? value : '[…]' };
  }
  if (typeof inner === 'object' && inner !== null) out.event = { type: (inner as { type?: unknown }).type };
  out.truncated = `${Number.isFinite(bytes) ? bytes : 'unserializable'} bytes: too large for the inspector`;
  return out;
}

function small(value: unknown): boolean {
  try {
    return (JSON.stringify(value)?.length ?? 0) <= SHORT_STRING;
  } catch {
    return false;
  }
}

const bridgePage = (port: number) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>webrtc-server inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}body{display:flex;flex-direction:column}
#offline{font:13px system-ui,sans-serif;padding:4px 10px;background:#1f2937;color:#e5e7eb}#offline a{color:#93c5fd}
iframe{flex:1;width:100%;border:none}</style></head>
<body><div id="offline">Hosted Stately inspector below (needs internet). No network? Use the <a href="/offline">built-in offline view</a>.</div>
<iframe id="inspector" src="https://stately.ai/inspect"></iframe>
<script>
const iframe = document.getElementById('inspector');
const buffer = []; let connected = false;
window.addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected') {
    connected = true; buffer.forEach((m) => iframe.contentWindow.postMessage(m, '*')); buffer.length = 0;
  }
});
const ws = new WebSocket('ws://127.0.0.1:${port}');
ws.onmessage = (event) => {
  const data = JSON.parse(event.data);
  if (connected) iframe.contentWindow.postMessage(data, '*'); else buffer.push(data);
};
</script></body></html>`;

/** Whether a WebSocket upgrade may reach the relay: no Origin (a local process, such as the server's own inspector) or the relay's own page. */
export function relayOriginAllowed(origin: string | undefined, port: number): boolean {
  return origin === undefined || origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
}

/** At most one "foreign origin refused" line per this many ms (with the count since the last one). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

function refuse(socket: Duplex, status: 403 | 503): void {
  const text = status === 403 ? 'Forbidden' : 'Service Unavailable';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
}

/**
 * The loopback relay between the server's inspector and the browser page.
 * Upgrades from a foreign Origin (any other web page the operator has open)
 * get 403, past `INSPECTOR_MAX_CLIENTS` clients 503; a message over
 * `INSPECTOR_MAX_PAYLOAD` closes its sender with 1009; the replay keeps the
 * last `INSPECTOR_REPLAY` messages within `INSPECTOR_REPLAY_BYTES`; a client
 * with more than `INSPECTOR_SLOW_CLIENT_BYTES` waiting for it is sent nothing
 * more until it catches up, and dropped after `INSPECTOR_STALL_MS` of that.
 */
export class InspectorRelay implements Worker {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  /** The offline view's pages. */
  private readonly viewers: WebSocketServer;
  private readonly replay = new ReplayBuffer(INSPECTOR_REPLAY, INSPECTOR_REPLAY_BYTES);
  private readonly view = new InspectorView();
  private viewTimer: NodeJS.Timeout | null = null;
  private viewSent = -1;
  /** Foreign-origin refusals not logged yet: one line per REFUSAL_LOG_INTERVAL_MS at most. */
  private refusals = 0;
  private lastRefusalLog = -Infinity;
  /** Since when each client too far behind has been so (at most one entry per client). */
  private readonly behindSince = new WeakMap<WebSocket, number>();

  private constructor(private readonly logger: Logger) {
    this.http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(path === '/offline' || path === '/offline/' ? offlinePage() : bridgePage(this.port()));
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: INSPECTOR_MAX_PAYLOAD });
    this.viewers = new WebSocketServer({ noServer: true, maxPayload: 1024 });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const origin = req.headers.origin;
      if (!relayOriginAllowed(origin, this.port())) {
        this.refusedOrigin(origin);
        return refuse(socket, 403);
      }
      if (this.wss.clients.size + this.viewers.clients.size >= INSPECTOR_MAX_CLIENTS) return refuse(socket, 503);
      if ((req.url ?? '').split('?')[0] === VIEW_STREAM_PATH) {
        this.viewers.handleUpgrade(req, socket, head, (ws) => this.viewerConnected(ws));
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws));
    });
  }

  private refusedOrigin(origin: string | undefined): void {
    this.refusals++;
    const now = performance.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) return;
    this.logger.warn({ listener: 'inspector', origin, refused: this.refusals }, 'inspector relay: upgrade from a foreign origin refused (a web page tried to read the inspector)');
    this.refusals = 0;
    this.lastRefusalLog = now;
  }

  private connected(ws: WebSocket): void {
    for (const message of this.replay) ws.send(message);
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => {
      const message = data.toString();
      this.replay.push(message);
      this.view.apply(message);
      this.scheduleView();
      for (const client of this.wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) this.forward(client, message);
      }
    });
  }

  private viewerConnected(ws: WebSocket): void {
    ws.on('error', () => ws.terminate());
    ws.send(this.viewMessage());
  }

  private viewMessage(): string {
    return JSON.stringify({ type: 'view', view: this.view.snapshot() });
  }

  /** Pushes the view to its pages, at most every INSPECTOR_VIEW_INTERVAL_MS. */
  private scheduleView(): void {
    if (this.viewTimer !== null) return;
    this.viewTimer = setTimeout(() => {
      this.viewTimer = null;
      if (this.viewSent === this.view.version || this.viewers.clients.size === 0) return;
      this.viewSent = this.view.version;
      const message = this.viewMessage();
      for (const client of this.viewers.clients) {
        if (client.readyState === WebSocket.OPEN) this.forward(client, message);
      }
    }, INSPECTOR_VIEW_INTERVAL_MS);
  }

  /** Sends `message` to `client` unless it is too far behind; drops it once it has been for INSPECTOR_STALL_MS. */
  private forward(client: WebSocket, message: string): void {
    if (client.bufferedAmount <= INSPECTOR_SLOW_CLIENT_BYTES) {
      this.behindSince.delete(client);
      client.send(message);
      return;
    }
    const now = performance.now();
    const since = this.behindSince.get(client);
    if (since === undefined) {
      this.behindSince.set(client, now);
    } else if (now - since >= INSPECTOR_STALL_MS) {
      this.logger.warn({ listener: 'inspector', buffered: client.bufferedAmount }, 'inspector relay: dropping a client that stopped reading');
      client.terminate();
    }
  }

  private port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Listens on 127.0.0.1:`port` (never another interface). */
  static async start(port: number, logger: Logger): Promise<InspectorRelay> {
    const relay = new InspectorRelay(logger);
    await new Promise<void>((resolve, reject) => {
      relay.http.once('error', reject);
      relay.http.listen(port, '127.0.0.1', () => resolve());
    });
    const address = relay.address();
    logger.info({ listener: 'inspector', ...address, url: `http://127.0.0.1:${address.port}/`, offline: offlineUrl(address.port) }, 'inspector relay listening');
    return relay;
  }

  address(): { host: string; port: number } {
    const a = this.http.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** What the relay holds: connected clients, bytes waiting to be sent to them, and the replay's messages and bytes. */
  stats(): { clients: number; buffered: number; replayMessages: number; replayBytes: number } {
    let buffered = 0;
    for (const client of this.wss.clients) buffered += client.bufferedAmount;
    return { clients: this.wss.clients.size, buffered, replayMessages: this.replay.length, replayBytes: this.replay.bytes };
  }

  async stop(): Promise<void> {
    if (this.viewTimer !== null) clearTimeout(this.viewTimer);
    this.viewTimer = null;
    for (const client of [...this.wss.clients, ...this.viewers.clients]) client.terminate();
    this.wss.close();
    this.viewers.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  onExit(_listener: (reason: ExitReason) => void): void {}
}

type WsInspector = ReturnType<typeof createWebSocketInspector>;

/** What `@statelyai/inspect` reads of an actor ref. */
interface RefView {
  id: string;
  sessionId: string;
  logic: unknown;
  _parent: { sessionId: string } | undefined;
  getSnapshot(): unknown;
}

type AnyRef = InspectionEvent['actorRef'] & { readonly id: string };

/**
 * The id an actor is shown under. Every actor of the server is the root of its
 * own XState system, so every session id is `x:0`; a root is shown by its
 * `systemId` instead (`connection:<peer id>`, `room:<name>`), a child by its
 * root's id and its own (`connection:<peer id>::<invoke id>`: `::` is in no
 * peer id, whose base64 may hold `/`).
 */
export const CHILD_SEPARATOR = '::';

export function inspectedId(ref: AnyRef): string {
  const parent = (ref as { _parent?: AnyRef })._parent;
  if (parent) return `${inspectedId(parent)}${CHILD_SEPARATOR}${ref.id}`;
  // `options.systemId`: the actor announces itself before it sets `systemId`.
  const { systemId, options } = ref as { systemId?: string; options?: { systemId?: string } };
  return systemId ?? options?.systemId ?? ref.sessionId;
}

function refView(ref: AnyRef): RefView {
  const sessionId = inspectedId(ref);
  const parent = (ref as { _parent?: AnyRef })._parent;
  return {
    // A root's id equal to its session id makes the inspector name it after its machine (`connection`, `room`).
    id: parent ? ref.id : sessionId,
    sessionId,
    logic: (ref as { logic?: unknown }).logic,
    _parent: parent ? { sessionId: inspectedId(parent) } : undefined,
    getSnapshot: () => ref.getSnapshot(),
  };
}

/** `event` with its actors shown by `inspectedId` (see there). */
export function named(event: InspectionEvent): InspectionEvent {
  const { actorRef, sourceRef } = event as unknown as { actorRef: AnyRef; sourceRef?: AnyRef };
  let root: AnyRef = actorRef;
  for (let p = (root as { _parent?: AnyRef })._parent; p; p = (p as { _parent?: AnyRef })._parent) root = p;
  return {
    ...event,
    rootId: inspectedId(root),
    actorRef: refView(actorRef),
    ...(sourceRef ? { sourceRef: refView(sourceRef) } : {}),
  } as unknown as InspectionEvent;
}

/**
 * The server's side of inspection: an XState `inspect` observer for every
 * actor, and a supervisor observer that shows supervisors as actors. Events
 * before `connect()` are dropped (nothing runs before the relay starts).
 */
export class Inspection {
  private inspector: WsInspector | null = null;
  private readonly supervisorsSeen = new Set<string>();

  readonly inspect: Observer<InspectionEvent> = {
    next: (event) => this.inspector?.inspect.next?.(named(event)),
  };

  readonly supervisors: SupervisorObserver = {
    changed: (name, snapshot) => this.supervisor(name, snapshot),
  };

  connect(url: string): void {
    this.inspector ??= createWebSocketInspector({
      url,
      serialize: (event) => fitForRelay(redact(event)) as typeof event,
    });
  }

  disconnect(): void {
    this.inspector?.stop();
    this.inspector = null;
    this.supervisorsSeen.clear();
  }

  private supervisor(name: string, snapshot: SupervisorSnapshot): void {
    const inspector = this.inspector;
    if (!inspector) return;
    const id = `supervisor:${name}`;
    const inspected = {
      status: snapshot.state === 'stopped' ? ('done' as const) : ('active' as const),
      value: snapshot.state,
      context: { children: snapshot.children },
    };
    if (!this.supervisorsSeen.has(id)) {
      this.supervisorsSeen.add(id);
      inspector.actor(id, inspected);
    } else {
      inspector.snapshot(id, inspected);
    }
  }
}

/** Starts the relay and connects the server's inspection to it; stopping undoes both. */
export async function startInspectorRelay(port: number, inspection: Inspection, logger: Logger): Promise<Worker> {
  const relay = await InspectorRelay.start(port, logger);
  inspection.connect(`ws://127.0.0.1:${relay.address().port}`);
  return {
    stop: async () => {
      inspection.disconnect();
      await relay.stop();
    },
    onExit: () => {},
  };
}
