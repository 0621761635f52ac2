/**
 * The Stately inspector (INTERFACE.md `inspect`): every actor of the server
 * (connections, rooms, supervisors, TURN) reports to `@statelyai/inspect`'s
 * WebSocket inspector, which talks to a relay we run on 127.0.0.1 only. The
 * relay forwards each message to every other client as text and replays the
 * last 200 to a newly connected one, like the package's own relay, and serves
 * a page at http://127.0.0.1:<port>/ that embeds the Stately inspector.
 *
 * Secrets never leave the process: every inspection event is redacted
 * (`password`, `secret`, `adminToken`, `credentials` values) and stripped of
 * sockets and actor references before it is sent.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { ExitReason, SupervisorObserver, SupervisorSnapshot, Worker } from '../../supervisors/worker.js';

export const INSPECTOR_REPLAY = 200;
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

const bridgePage = (port: number) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>webrtc-server inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="https://stately.ai/inspect"></iframe>
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

/** The loopback relay between the server's inspector and the browser page. */
export class InspectorRelay implements Worker {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly replay: string[] = [];

  private constructor() {
    this.http = createServer((_req, res) => {
      const { port } = this.http.address() as AddressInfo;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(bridgePage(port));
    });
    this.wss = new WebSocketServer({ server: this.http, maxPayload: 16 * 1024 * 1024 });
    this.wss.on('connection', (ws) => {
      for (const message of this.replay) ws.send(message);
      ws.on('error', () => ws.terminate());
      ws.on('message', (data) => {
        const message = data.toString();
        this.replay.push(message);
        if (this.replay.length > INSPECTOR_REPLAY) this.replay.shift();
        for (const client of this.wss.clients) {
          if (client !== ws && client.readyState === WebSocket.OPEN) client.send(message);
        }
      });
    });
  }

  /** Listens on 127.0.0.1:`port` (never another interface). */
  static async start(port: number, logger: Logger): Promise<InspectorRelay> {
    const relay = new InspectorRelay();
    await new Promise<void>((resolve, reject) => {
      relay.http.once('error', reject);
      relay.http.listen(port, '127.0.0.1', () => resolve());
    });
    const address = relay.address();
    logger.info({ listener: 'inspector', ...address, url: `http://127.0.0.1:${address.port}/` }, 'inspector relay listening');
    return relay;
  }

  address(): { host: string; port: number } {
    const a = this.http.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  onExit(_listener: (reason: ExitReason) => void): void {}
}

type WsInspector = ReturnType<typeof createWebSocketInspector>;

/**
 * The server's side of inspection: an XState `inspect` observer for every
 * actor, and a supervisor observer that shows supervisors as actors. Events
 * before `connect()` are dropped (nothing runs before the relay starts).
 */
export class Inspection {
  private inspector: WsInspector | null = null;
  private readonly supervisorsSeen = new Set<string>();

  readonly inspect: Observer<InspectionEvent> = {
    next: (event) => this.inspector?.inspect.next?.(event),
  };

  readonly supervisors: SupervisorObserver = {
    changed: (name, snapshot) => this.supervisor(name, snapshot),
  };

  connect(url: string): void {
    this.inspector ??= createWebSocketInspector({
      url,
      serialize: (event) => redact(event) as typeof event,
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
