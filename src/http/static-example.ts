/**
 * Serves the example client (`example/`) at `/` in dev mode (or with the
 * `example` option), and the browser build of `webrtc-server/client`
 * (`dist/client/*.js`, plain ES modules) under `/client/`, which the example
 * imports. A fixed list of files, read once: no path from the request ever
 * reaches the file system.
 * Next to it, `GET /config.json` tells the client our own STUN/TURN service
 * (`{"iceServers": [...]}`, `[]` when TURN is off), at the host the page was
 * loaded from; the client adds its signaling credentials to the TURN entry.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import type { TurnAddresses } from '../api.js';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  '/favicon.ico': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Where the client library's modules are served. */
export const CLIENT_PREFIX = '/client/';

/**
 * The client library's modules (`dist/client/<name>.js`) by URL path; none
 * when the package is not built (`npm run build`).
 */
function clientFiles(root: string): Record<string, { file: string; type: string }> {
  const dir = join(root, 'dist', 'client');
  const files: Record<string, { file: string; type: string }> = {};
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    if (/^[a-z][a-z0-9-]*\.js$/.test(name)) files[CLIENT_PREFIX + name] = { file: join(dir, name), type: 'text/javascript; charset=utf-8' };
  }
  return files;
}

/** The folder holding this package's package.json, found from this file. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** An RTCIceServer entry without credentials (the client adds its own). */
export interface IceServerEntry {
  urls: string;
}

/**
 * The ICE servers for a page loaded from `hostHeader`: our STUN and our TURN
 * at that host's name and TURN's real ports: over UDP, over TCP
 * (`?transport=tcp`) and over TLS (`turns:`) when they are on; [] when TURN
 * is off or the Host header is unusable.
 */
export function iceServersFor(hostHeader: string | undefined, addresses: TurnAddresses | null): IceServerEntry[] {
  if (!addresses) return [];
  const turn = addresses.udp;
  let host = hostOf(hostHeader);
  // TURN listens on IPv4 only: a page loaded from an IPv6 literal gets TURN's own (specific) address
  if (host === null || (host.startsWith('[') && isIPv4(turn.host) && turn.host !== '0.0.0.0')) host = hostOf(turn.host.includes(':') ? `[${turn.host}]` : turn.host);
  if (host === null) return [];
  return [
    { urls: `stun:${host}:${turn.port}` },
    { urls: `turn:${host}:${turn.port}?transport=udp` },
    ...(addresses.tcp ? [{ urls: `turn:${host}:${addresses.tcp.port}?transport=tcp` }] : []),
    ...(addresses.tls ? [{ urls: `turns:${host}:${addresses.tls.port}` }] : []),
  ];
}

/** The hostname of a Host header value (IPv6 kept in brackets), or null if it is not one. */
function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  try {
    const { hostname, username, password, pathname, search, hash } = new URL(`http://${header}`);
    if (!hostname || username || password || pathname !== '/' || search || hash) return null;
    return hostname;
  } catch {
    return null;
  }
}

export class ExampleSite {
  private readonly cache = new Map<string, Buffer>();
  private readonly dir = join(packageRoot(), 'example');
  private readonly files = { ...FILES, ...clientFiles(packageRoot()) };

  /** `turnAddresses`: where TURN listens now (null when off), asked on each `/config.json`. */
  constructor(private readonly turnAddresses: () => TurnAddresses | null = () => null) {}

  /** Answers the request if it names an example file or `/config.json`; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/config.json') {
      const body = Buffer.from(`${JSON.stringify({ iceServers: iceServersFor(req.headers.host, this.turnAddresses()) })}\n`);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    const entry = this.files[path];
    if (!entry) return false;
    let body = this.cache.get(entry.file);
    if (!body) {
      try {
        body = readFileSync(resolve(this.dir, entry.file));
      } catch {
        return false;
      }
      this.cache.set(entry.file, body);
    }
    res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
