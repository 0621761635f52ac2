/**
 * The container's HEALTHCHECK (Dockerfile): GET /healthz on the signaling
 * listener from inside the container; exit 0 on 200, else 1. It finds the
 * listener through the environment variables the server reads:
 * WEBRTC_SERVER_PORT (default 8080, or 8443 with WEBRTC_SERVER_CERTFILE),
 * WEBRTC_SERVER_HOST (a wildcard or unset: 127.0.0.1). Give the port by
 * environment, not only in a config file, so that this check finds it.
 * With TLS the certificate is not verified: this checks liveness only.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const TIMEOUT_MS = 4000;
const env = process.env;
const tls = Boolean(env.WEBRTC_SERVER_CERTFILE);
const port = Number(env.WEBRTC_SERVER_PORT || (tls ? 8443 : 8080));
const configured = env.WEBRTC_SERVER_HOST;
const host = !configured || configured === '0.0.0.0' || configured === '::' ? '127.0.0.1' : configured;

const request = (tls ? httpsRequest : httpRequest)(
  { host, port, path: '/healthz', method: 'GET', timeout: TIMEOUT_MS, rejectUnauthorized: false },
  (res) => {
    res.resume();
    if (res.statusCode !== 200) process.stderr.write(`healthcheck: /healthz answered ${res.statusCode}\n`);
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
request.on('error', (err) => {
  process.stderr.write(`healthcheck: ${tls ? 'https' : 'http'}://${host}:${port}/healthz: ${err.message}\n`);
  process.exit(1);
});
request.end();
