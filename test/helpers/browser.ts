/**
 * Headless Chromium for end-to-end tests: the Debian package at
 * /usr/bin/chromium driven by playwright-core (never a downloaded browser),
 * with fake camera/microphone and no network beyond this machine.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Remote videos carry audio: let them autoplay without a user gesture.
  '--autoplay-policy=no-user-gesture-required',
  // Host candidates with real addresses rather than mDNS `.local` names (which need a
  // resolver). Chromium already does so once camera access is granted; this keeps it so.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Chromium ignores the loopback interface when gathering ICE candidates: on a machine
  // whose only interface is lo (CI containers, `unshare -n`) the peers would find no
  // candidate at all and stay in "new". With it, the call works over 127.0.0.1 alone.
  '--allow-loopback-in-peer-connection',
];

/**
 * Whether the browser is installed. Tests skip with a clear reason when it is
 * not, except in CI (CI=true), where .ci/run installs it: there a missing
 * browser must fail the run, not hide the tests.
 */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH) || process.env.CI === 'true';
}

/**
 * Launches headless Chromium with a fresh profile (playwright makes a
 * temporary user-data-dir); `env` adds to its environment (a HOME whose NSS
 * database trusts a test CA: test/helpers/test-ca.ts).
 */
export function launchChromium(env: Record<string, string> = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout: 30_000,
    ...(Object.keys(env).length > 0 ? { env: { ...process.env, ...env } as Record<string, string> } : {}),
  });
}
