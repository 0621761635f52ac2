/**
 * The relay address TURN announces (XOR-RELAYED-ADDRESS) when `turnIp` is not
 * set: the first A record of `hostname`, as the original does with
 * `inet:getaddr(Hostname, inet)`. A policy seam like pion's
 * `RelayAddressGenerator`. Every outcome is logged in one clear line.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';

export type LookupA = (hostname: string) => Promise<string>;

const defaultLookup: LookupA = async (hostname) => (await dnsLookup(hostname, { family: 4 })).address;

export interface RelayAddressInput {
  turnIp: string | null;
  hostname: string;
  /** The address TURN's UDP socket binds to. */
  listenHost: string;
  dev: boolean;
}

function isLoopback(ip: string): boolean {
  return /^127\./.test(ip);
}

function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/**
 * `turnIp` when set; in dev mode (or when listening on one loopback
 * address) the listening address; else the first A record of `hostname`;
 * if that fails, the listening address, or 127.0.0.1 when that is a wildcard.
 */
export async function resolveRelayAddress(input: RelayAddressInput, logger: Logger, lookup: LookupA = defaultLookup): Promise<string> {
  if (input.turnIp !== null) return input.turnIp;
  if (input.dev || (isIPv4(input.listenHost) && isLoopback(input.listenHost))) {
    const ip = isIPv4(input.listenHost) ? input.listenHost : '127.0.0.1';
    logger.info({ turnIp: ip }, `turnIp not set: relaying on ${ip}, TURN's loopback listening address`);
    return ip;
  }
  const fallback = isIPv4(input.listenHost) && !isWildcard(input.listenHost) ? input.listenHost : '127.0.0.1';
  try {
    const ip = await lookup(input.hostname);
    if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
    if (isLoopback(ip) && !isLoopback(input.listenHost)) {
      logger.warn({ turnIp: ip, hostname: input.hostname },
        `turnIp not set: ${input.hostname} resolves to loopback ${ip}; clients on other hosts cannot reach the relay: set "turnIp" to the public address`);
    } else {
      logger.info({ turnIp: ip, hostname: input.hostname }, `turnIp not set: using ${ip}, the first A record of ${input.hostname}`);
    }
    return ip;
  } catch (err) {
    logger.warn({ err, hostname: input.hostname, turnIp: fallback },
      `turnIp not set and ${input.hostname} has no usable A record: falling back to ${fallback}; set "turnIp" to the public address`);
    return fallback;
  }
}
