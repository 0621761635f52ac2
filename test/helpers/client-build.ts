/**
 * `webrtc-server/client` as users get it: the compiled `dist/client`
 * (`npm run build`). Tests that import it call `clientLibrary()`, which first
 * compiles `src/client` when the build is missing or older than a source file,
 * so a test run alone never uses a stale build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/http/static-example.js';

const root = packageRoot();
export const CLIENT_SOURCE_DIR = join(root, 'src', 'client');
export const CLIENT_DIST_DIR = join(root, 'dist', 'client');

function newestSource(): number {
  return Math.max(...readdirSync(CLIENT_SOURCE_DIR).map((f) => statSync(join(CLIENT_SOURCE_DIR, f)).mtimeMs));
}

/** Compiles src/client into dist/client unless the build is up to date. */
export function ensureClientBuilt(): void {
  const entry = join(CLIENT_DIST_DIR, 'index.js');
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestSource()) return;
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.client.json')], { stdio: 'inherit', timeout: 120_000 });
}

/** The built client library, imported by its package name (the `exports` entry `./client`). */
export async function clientLibrary(): Promise<typeof import('webrtc-server/client')> {
  ensureClientBuilt();
  return import('webrtc-server/client');
}
