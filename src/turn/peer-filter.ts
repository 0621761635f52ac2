/**
 * Which peers TURN relays to (RFC 8656 section 21.3, "Server Relaying to
 * Internal Addresses"; the SSRF class of CVE-2020-26262). The policy seam of
 * the adapter, like pion's `PermissionHandler`: CreatePermission and
 * ChannelBind to a refused peer get 403, and nothing is ever sent to one.
 *
 * Order (the first that matches decides): the `allowed` list (options
 * `turnAllowedPeers`), the `denied` list (`turnDeniedPeers`), loopback when
 * `allowLoopbackPeers`, the server's own addresses off the relay ports
 * (refused), then the default deny list below (what coturn and eturnal refuse
 * out of the box); anything else is allowed. So the explicit lists override
 * `allowLoopbackPeers` and the defaults, and `allowed` wins over `denied`.
 * Every address is judged as IPv6; an IPv4 address and its IPv4-mapped form
 * (`::ffff:a.b.c.d`) are the same address.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Words } from './stun.js';

/** Refused unless allowed: loopback, "this network", private, CGNAT, link-local, multicast, reserved, documentation. */
export const DEFAULT_DENIED_PEERS: readonly string[] = Object.freeze([
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // CGNAT (RFC 6598)
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, cloud metadata 169.254.169.254
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // 6to4 relay anycast
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, broadcast 255.255.255.255
  '::/128', // unspecified
  '::1/128', // loopback
  '::/96', // IPv4-compatible (deprecated)
  '64:ff9b::/96', // NAT64
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard-only
  '2001::/23', // IETF protocol assignments (Teredo, ...)
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated)
  'ff00::/8', // multicast
]);

export const LOOPBACK_PEERS: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

interface Cidr {
  base: bigint;
  /** Prefix length out of 128. */
  bits: number;
}

const ALL_ONES = (1n << 128n) - 1n;
const MAPPED_PREFIX = 0xffffn << 32n;

/** An IP address as a 128-bit number (IPv4 as IPv4-mapped), or null when it is not one. */
export function ipToBigInt(address: string): bigint | null {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address.split('%')[0]!;
  if (isIPv4(ip)) {
    const n = ip.split('.').reduce((acc, b) => (acc << 8n) | BigInt(Number(b)), 0n);
    return MAPPED_PREFIX | n;
  }
  if (!isIPv6(ip)) return null;
  const words = ipv6Words(ip);
  if (!words) return null;
  return words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}

function mask(bits: number): bigint {
  return bits === 0 ? 0n : (ALL_ONES << BigInt(128 - bits)) & ALL_ONES;
}

/** Parses "a.b.c.d/n", "x::y/n" or a bare address; throws a TypeError naming the bad entry. */
export function parseCidr(text: string): Cidr {
  const [ip, prefix, ...rest] = text.trim().split('/');
  const base = ipToBigInt(ip ?? '');
  const v4 = isIPv4(ip ?? '');
  const max = v4 ? 32 : 128;
  const n = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (base === null || rest.length > 0 || !(n >= 0 && n <= max)) throw new TypeError(`not an IP address or CIDR block: "${text}"`);
  const bits = v4 ? n + 96 : n;
  return { base: base & mask(bits), bits };
}

function inAny(n: bigint, list: readonly Cidr[]): boolean {
  return list.some((c) => (n & mask(c.bits)) === c.base);
}

export interface PeerFilterConfig {
  /** Allows 127.0.0.0/8 and ::1 (tests, local demos) unless `denied` refuses them. */
  allowLoopbackPeers?: boolean;
  /** Always allowed; wins over everything else. */
  allowed?: readonly string[];
  /** Refused, unless `allowed`; wins over `allowLoopbackPeers`. */
  denied?: readonly string[];
  /** Replaces DEFAULT_DENIED_PEERS (pass [] to refuse only `denied`). */
  defaultDenied?: readonly string[];
  /**
   * The server's own addresses (relay address, listening address). A peer
   * there is reached only on a relay port, so a client can reach another
   * client's relayed address but not the server host's other UDP services.
   */
  selfAddresses?: readonly string[];
  /** The relay port range, for `selfAddresses`. */
  relayPorts?: readonly [number, number];
}

export type PeerVerdict = 'allowed' | 'denied' | 'invalid';

export class PeerFilter {
  private readonly allowed: Cidr[];
  private readonly denied: Cidr[];
  private readonly loopback: Cidr[];
  private readonly defaultDenied: Cidr[];
  private readonly self: bigint[];
  private readonly relayPorts: readonly [number, number];

  constructor(config: PeerFilterConfig = {}) {
    this.allowed = (config.allowed ?? []).map(parseCidr);
    this.denied = (config.denied ?? []).map(parseCidr);
    this.loopback = config.allowLoopbackPeers ? LOOPBACK_PEERS.map(parseCidr) : [];
    this.defaultDenied = (config.defaultDenied ?? DEFAULT_DENIED_PEERS).map(parseCidr);
    this.self = (config.selfAddresses ?? []).map(ipToBigInt).filter((n): n is bigint => n !== null && !isUnspecified(n));
    this.relayPorts = config.relayPorts ?? [1, 65535];
  }

  /** May a permission be installed for `address` (CreatePermission, ChannelBind)? */
  checkPeer(address: string): PeerVerdict {
    const n = ipToBigInt(address);
    if (n === null) return 'invalid';
    return this.judge(n, null);
  }

  /** May data be sent to `address:port` (ChannelBind, Send, ChannelData)? */
  checkDestination(address: string, port: number): PeerVerdict {
    const n = ipToBigInt(address);
    if (n === null || !(port > 0 && port <= 65535)) return 'invalid';
    return this.judge(n, port);
  }

  /** The order of the module comment; `port` null: any port (a permission is per address). */
  private judge(n: bigint, port: number | null): PeerVerdict {
    if (inAny(n, this.allowed)) return 'allowed';
    if (inAny(n, this.denied)) return 'denied';
    if (inAny(n, this.loopback)) return 'allowed';
    if (port !== null && this.self.includes(n) && (port < this.relayPorts[0] || port > this.relayPorts[1])) return 'denied';
    if (inAny(n, this.defaultDenied)) return 'denied';
    return 'allowed';
  }
}

function isUnspecified(n: bigint): boolean {
  return n === 0n || n === MAPPED_PREFIX;
}
