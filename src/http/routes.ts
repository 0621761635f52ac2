/**
 * The HTTP endpoints of the signaling listener (docs/configuration.md): `/metrics`,
 * `/healthz`, `/readyz`, the admin API under `/admin/` (only with an
 * `adminToken`, checked in constant time), and the example client in dev mode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '../auth/authenticator.js';
import type { Metrics } from '../observability/metrics.js';
import type { ServerApi } from '../api.js';
import { ExampleSite } from './static-example.js';

const MAX_BODY_BYTES = 65_536;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Which routes one listener serves (health checks are always served). */
export interface RouteSet {
  /** `/metrics` and `/admin/*` (off on the signaling listener when `metricsPort` moves them). */
  observability: boolean;
  /** The example client, in dev mode. */
  example: boolean;
}

export class HttpRoutes {
  private readonly example: ExampleSite | null;
  private readonly observability: boolean;

  constructor(
    private readonly api: ServerApi,
    private readonly metrics: Metrics,
    private readonly adminToken: string | null,
    routes: RouteSet,
  ) {
    this.example = routes.example ? new ExampleSite(() => api.turnAddresses()) : null;
    this.observability = routes.observability;
  }

  /** Answers the request; false if no route matched. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz' && isRead(req)) {
      send(res, 200, { status: 'ok' });
      return true;
    }
    if (path === '/readyz' && isRead(req)) {
      const health = this.api.health();
      send(res, health.ready ? 200 : 503, health);
      return true;
    }
    if (!this.observability) return this.example?.handle(req, res) ?? false;
    if (path === '/metrics' && isRead(req)) {
      this.metrics.expose().then(
        ({ contentType, body }) => send(res, 200, body, { 'content-type': contentType }),
        (err: unknown) => send(res, 500, { error: String(err) }),
      );
      return true;
    }
    if (path === '/admin' || path.startsWith('/admin/')) {
      this.admin(req, res, path).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: String(err) });
      });
      return true;
    }
    return this.example?.handle(req, res) ?? false;
  }

  private async admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (this.adminToken === null) return send(res, 404, { error: 'not found' });
    const header = req.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!safeEqual(presented, this.adminToken)) {
      return send(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="webrtc-server admin"' });
    }
    const method = req.method ?? 'GET';
    // Peer ids are standard base64 and may hold `/` and `+`: the id is everything
    // between `peers/` and the last `/kick`, percent-encoded (%2F, %2B) or raw.
    const kick = /^\/admin\/peers\/(.+)\/kick$/.exec(path);
    if (kick && method === 'POST') {
      const peerId = decode(kick[1]!);
      if (peerId === null) return send(res, 400, { error: 'undecodable path' });
      if (!this.api.kick(peerId)) return send(res, 404, { error: 'no such peer', peerId });
      return send(res, 200, { peerId, kicked: true });
    }
    const segments = path.split('/').slice(2).map(decode);
    if (segments.includes(null)) return send(res, 400, { error: 'undecodable path' });
    const [a, b, c, d] = segments as string[];

    if (a === 'tree' && b === undefined && method === 'GET') return send(res, 200, { tree: this.api.tree() });
    if (a === 'rooms' && b === undefined && method === 'GET') return send(res, 200, { rooms: this.api.rooms() });
    if (a === 'rooms' && b !== undefined && c === undefined && method === 'GET') {
      const members = this.api.peers(b);
      if (members.length === 0) return send(res, 404, { error: 'no such room', room: b });
      return send(res, 200, { room: b, members });
    }
    if (a === 'rooms' && b !== undefined && c === 'publish' && d === undefined && method === 'POST') {
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (err) {
        return send(res, 400, { error: `invalid JSON body: ${(err as Error).message}` });
      }
      const event = (body as { event?: unknown } | null)?.event;
      if (typeof event !== 'string' || event === '') return send(res, 400, { error: 'body must be {"event": "<non-empty string>", "data": …}' });
      const recipients = this.api.publish(b, event, (body as { data?: unknown }).data);
      return send(res, 200, { room: b, recipients });
    }
    return send(res, 404, { error: 'not found' });
  }
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}
