/**
 * Serves the example client (`example/`) at `/` in dev mode. A fixed list of
 * files, read once: no path from the request ever reaches the file system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

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

export class ExampleSite {
  private readonly cache = new Map<string, Buffer>();
  private readonly dir = join(packageRoot(), 'example');

  /** Answers the request if it names an example file; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0]!;
    const entry = FILES[path];
    if (!entry) return false;
    let body = this.cache.get(entry.file);
    if (!body) {
      try {
        body = readFileSync(join(this.dir, entry.file));
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
