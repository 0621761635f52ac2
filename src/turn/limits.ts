/**
 * The TURN adapter's limits against abuse by one client or one source
 * (the "Hardening" issue). Every default is justified here; the README's
 * "Security and limits" table repeats them. Credential lookup limits live in
 * `TurnCredentialsOptions` (credentials.ts), allocation quotas in quota.ts.
 */

export interface TurnLimits {
  /**
   * Most permissions (peer IP addresses, RFC 8656 section 9) one allocation
   * holds; a CreatePermission or ChannelBind that would exceed it gets 508
   * Insufficient Capacity. eturnal's `max_permissions` default: a call needs
   * one per remote candidate address, rarely more than a handful.
   */
  maxPermissions: number;
  /**
   * Most XOR-PEER-ADDRESS attributes in one CreatePermission (RFC 8656
   * section 9.1 allows several); beyond, 400 Bad Request before any per-peer
   * work. Equal to `maxPermissions`: a request could not install more anyway.
   */
  maxPeersPerRequest: number;
  /**
   * Largest STUN message accepted, bytes, except Send indications (which
   * carry relayed DATA, up to a UDP datagram). RFC 8489 section 6.1: STUN
   * over UDP should fit the path MTU; 1500 is Ethernet's. A larger request
   * gets 400 from its header alone (no attribute decoded, no HMAC).
   */
  maxMessageBytes: number;
  /** Most attributes in a Send indication (XOR-PEER-ADDRESS, DATA, DONT-FRAGMENT, FINGERPRINT...). */
  maxSendAttributes: number;
  /**
   * Unauthenticated error answers (401, 438, and 400/437 to requests not yet
   * authenticated) per source IP: a bucket of `challengeBurst`, refilled at
   * `challengePerSecond`. Beyond, requests are dropped silently, so a ~28 byte
   * spoofed request cannot draw a ~100 byte answer at line rate.
   */
  challengeBurst: number;
  challengePerSecond: number;
  /** Source IPs whose challenge budget is tracked (the oldest go first; a full bucket is forgotten). */
  challengeMaxSources: number;
  /** TURN authentication failures logged per second at most (a summary says how many were not). */
  authLogPerSecond: number;
  /**
   * How often expired permissions and channels are deleted from every
   * allocation, ms. Each permission change purges its own allocation at once;
   * the gauges may lag expiry by up to this much.
   */
  sweepIntervalMs: number;
  /** RFC 8656 section 9: a permission lasts 300 s. Tests only. */
  permissionLifetimeMs: number;
  /** RFC 8656 section 12: a channel binding lasts 600 s. Tests only. */
  channelLifetimeMs: number;
  /** RFC 8656 section 7.2 (EVEN-PORT R bit): a reservation lasts about 30 s. Tests only. */
  reservationMs: number;
  /**
   * TURN over TCP and TLS (RFC 8656 section 5): client streams open at once,
   * in all (TLS ones counted from their TCP connection, before the
   * handshake). More are closed as they connect. With at most one partial
   * frame of 64 KiB each (stream-framer.ts), this bounds what streams hold.
   */
  streamMaxConnections: number;
  /** The same from one source IP (as signaling's `maxConnectionsPerIp`). */
  streamMaxPerIp: number;
  /**
   * A stream without an allocation is closed after this many ms (checked
   * again each time: a stream is kept while it holds an allocation, whose
   * own lifetime then governs). Covers idle connections, partial frames and
   * streams whose allocation was deleted.
   */
  streamIdleMs: number;
  /**
   * Bytes waiting to be sent to one stream client: past it, relayed data to
   * it is dropped (as UDP would lose it); past twice it, the client reads
   * nothing at all and its stream is closed.
   */
  streamMaxPendingBytes: number;
}

export const DEFAULT_TURN_LIMITS: Readonly<TurnLimits> = Object.freeze({
  maxPermissions: 10,
  maxPeersPerRequest: 10,
  maxMessageBytes: 1500,
  maxSendAttributes: 16,
  challengeBurst: 16,
  challengePerSecond: 4,
  challengeMaxSources: 10_000,
  authLogPerSecond: 10,
  sweepIntervalMs: 30_000,
  permissionLifetimeMs: 300_000,
  channelLifetimeMs: 600_000,
  reservationMs: 30_000,
  streamMaxConnections: 2048,
  streamMaxPerIp: 200,
  streamIdleMs: 30_000,
  streamMaxPendingBytes: 256 * 1024,
});

export function resolveLimits(limits: Partial<TurnLimits> = {}): Readonly<TurnLimits> {
  return Object.freeze({ ...DEFAULT_TURN_LIMITS, ...limits });
}

/**
 * A relay thread's share of the per-source challenge budget: each of
 * `threads` threads keeps its own buckets (a source's datagrams spread over
 * the threads by 4-tuple), so each gets the burst divided by the thread
 * count, rounded up to at least 1 (0 stays 0), and the rate divided by it.
 * A source IP then gets at most `challengeBurst + threads - 1` answers at
 * once and `challengePerSecond` after, however its ports hash.
 */
export function threadChallengeShare(limits: Partial<TurnLimits>, threads: number): Partial<TurnLimits> {
  const burst = limits.challengeBurst ?? DEFAULT_TURN_LIMITS.challengeBurst;
  const perSecond = limits.challengePerSecond ?? DEFAULT_TURN_LIMITS.challengePerSecond;
  const n = Math.max(1, threads);
  return { ...limits, challengeBurst: burst <= 0 ? 0 : Math.max(1, Math.ceil(burst / n)), challengePerSecond: perSecond / n };
}
