/**
 * A test certificate authority for TLS tests that check certificates rather
 * than switch the checks off: a CA made with the `openssl` CLI, a server
 * certificate it signs for 127.0.0.1 and localhost, and an NSS database (the
 * store Chromium on Linux trusts) holding the CA, in a HOME of its own for
 * the browser (made with `certutil`, Debian's libnss3-tools).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';

export interface TrustedCert {
  /** The CA's certificate (PEM). */
  cafile: string;
  /** The server's certificate, signed by the CA, for IP 127.0.0.1 and DNS localhost. */
  certfile: string;
  keyfile: string;
  /** A HOME whose NSS database (~/.pki/nssdb) trusts the CA: give it to Chromium. */
  home: string;
}

/**
 * Whether `certutil` is installed (the NSS database cannot be made without
 * it). In CI (CI=true), where .ci/run installs it, a missing one must fail
 * the tests rather than skip them.
 */
export function nssAvailable(): boolean {
  return spawnSync('certutil', ['-H'], { stdio: 'ignore' }).error === undefined || process.env.CI === 'true';
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore', timeout: 30_000 });
}

/** Makes the CA, the server certificate and the browser's HOME in `dir`. */
export async function makeTrustedCert(dir: string): Promise<TrustedCert> {
  const cafile = join(dir, 'ca.pem');
  const cakey = join(dir, 'ca-key.pem');
  const certfile = join(dir, 'server.pem');
  const keyfile = join(dir, 'server-key.pem');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=webrtc-server test CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', cakey, '-out', cafile]);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', keyfile, '-out', csr]);
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', csr, '-CA', cafile, '-CAkey', cakey, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', certfile]);
  const home = join(dir, 'home');
  const nssdb = join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password'], { stdio: 'ignore', timeout: 30_000 });
  execFileSync('certutil', ['-A', '-d', `sql:${nssdb}`, '-n', 'webrtc-server test CA', '-t', 'C,,', '-i', cafile], { stdio: 'ignore', timeout: 30_000 });
  return { cafile, certfile, keyfile, home };
}

/** GETs `url` over HTTPS trusting `ca` (and nothing else): the body. */
export function httpsText(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
