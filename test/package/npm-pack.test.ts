/**
 * `npm pack` makes an installable package (README "Install from a tarball"):
 * packed from a copy of this checkout (so that its `prepack` clean and
 * `prepare` build leave this checkout's dist/ alone), installed into an empty
 * project with npm, then `npx webrtc-server --version`, the installed bin
 * started on free ports answering /healthz and serving the example client,
 * and the library imported. Installing needs the npm registry or npm's cache
 * for the dependencies; without either the test skips, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/fixtures.js';

const run = promisify(execFile);
const NPM = 'npm';
/** Top-level entries of the checkout not copied for packing. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git']);
const NETWORK_ERROR = /E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH)|ENOTCACHED|network/;

interface PackResult {
  filename: string;
  files: { path: string }[];
}

interface Manifest {
  version: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

/** Every file the manifest points at (main, types, bin, exports), without "./". */
function entryPoints(manifest: Manifest): string[] {
  const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin)];
  for (const value of Object.values(manifest.exports)) targets.push(...(typeof value === 'string' ? [value] : Object.values(value)));
  return [...new Set(targets.map((p) => p.replace(/^\.\//, '')))];
}

test('npm pack → npm install → npx webrtc-server --version, the bin serves /healthz and the example, the library imports', { timeout: 600_000 }, async (t) => {
  const work = tempDir(t, 'webrtc-server-pack-');
  const checkout = join(work, 'checkout');
  cpSync(ROOT, checkout, { recursive: true, filter: (src) => !NOT_COPIED.has(relative(ROOT, src).split('/')[0]!) && !src.endsWith('.tgz') });
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(checkout, 'node_modules'), 'dir');
  const out = join(work, 'out');
  mkdirSync(out);
  // `npm pack` runs prepack (clean) and prepare (build) in the copy; scripts' output goes to stderr with --json.
  const packed = await run(NPM, ['pack', '--json', '--pack-destination', out], { cwd: checkout, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  const [pack] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as PackResult[];
  const files = new Set(pack!.files.map((f) => f.path));
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

  for (const entry of entryPoints(manifest)) assert.ok(files.has(entry), `${entry} (main, types, bin or exports) is in the package`);
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'docs/protocol.md', 'docs/configuration.md', 'example/index.html', 'example/app.js', 'example/config/auth.mjs', 'example/config/hooks.mjs', 'example/config/webrtc-server.json', 'dist/supervisors/app.js']) {
    assert.ok(files.has(needed), `${needed} is in the package`);
  }
  const stray = [...files].filter((f) => /^(test|bench|src|supervisors|\.ci)\//.test(f) || f.endsWith('.map') || f.endsWith('.tsbuildinfo'));
  assert.deepEqual(stray, [], 'no tests, benchmarks, TypeScript sources or source maps');

  // An empty project installs the tarball (dependencies from the registry, or npm's cache).
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const tarball = join(out, basename(pack!.filename));
  try {
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: project, timeout: 300_000 });
  } catch (err) {
    const text = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
    if (NETWORK_ERROR.test(text)) return t.skip(`the dependencies cannot be installed here (no registry, not in npm's cache): ${text.trim().split('\n')[0]}`);
    throw err;
  }

  const npx = await run('npx', ['--offline', '--', 'webrtc-server', '--version'], { cwd: project, timeout: 60_000 });
  assert.equal(npx.stdout.trim(), manifest.version);

  // The installed bin itself (shebang and executable bit), on free ports.
  const bin = join(project, 'node_modules/.bin/webrtc-server');
  const { daemon, port } = await startDaemon(t, ['--port', '0', '--turn-port', '0'], { bin, cwd: project });
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const page = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(page.status, 200, 'dev mode serves the example client from the installed package');
  assert.match(await page.text(), /<html/i);
  daemon.proc.kill('SIGTERM');
  assert.deepEqual(await daemon.waitForExit(), { code: 0, signal: null }, daemon.describe());

  const imported = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('webrtc-server'); console.log(typeof m.startServer, typeof m.attach, m.OPTION_NAMES.includes('logFormat'))"], { cwd: project, timeout: 30_000 });
  assert.equal(imported.stdout.trim(), 'function function true');
});
