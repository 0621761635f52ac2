/**
 * The TURN engine as the rest of the server sees it (STYLE.md: "Model the
 * TURN adapter on pion"). One implementation, node-turn-backend.ts, wires
 * the node-turn adapter; only the adapter files its header lists import
 * node-turn, and everything node-turn gets wrong is mended there. Policy
 * comes in through narrow seams: the peer filter, the credentials, the quotas.
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AuthGate } from '../auth/guess-throttle.js';
import type { TurnCredentials } from './credentials.js';
import type { TurnLimits } from './limits.js';
import type { NonceOptions } from './nonce.js';
import type { PeerFilter } from './peer-filter.js';
import type { QuotaLedger, QuotaLimits } from './quota.js';

/** Clients whose allocation lives on another relay thread (src/turn/foreign-owners.ts), and the other threads. */
export interface ForeignClients {
  readonly size: number;
  /** The relay thread this adapter is (1..N): its reservation tokens name it. */
  readonly self: number;
  /** True when the datagram from `address:port` was handed to the thread that owns that client. */
  forwarded(buf: Buffer, address: string, port: number): boolean;
  /**
   * Hands the datagram from `address:port` to relay thread `thread` (it holds
   * what the datagram asks for: an EVEN-PORT reservation). False when
   * `thread` is no other relay thread of this server (nothing sent).
   */
  forwardTo(thread: number, buf: Buffer, address: string, port: number): boolean;
}

export interface TurnAddress {
  host: string;
  port: number;
}

/**
 * node-turn@0.0.6 defects the adapter mends (numbered as in the issue).
 * Tests leave one in place with `unmended` to prove its mend matters.
 */
export const NodeTurnDefect = {
  /** 1. Refresh reads server.defaultLifetime / maxAllocateTimeout (undefined): NaN lifetime, allocation deleted, LIFETIME 0. */
  REFRESH_LIFETIME: 'refresh-lifetime',
  /** 2. The requested LIFETIME is read as 'liftetime' and ignored. */
  REQUESTED_LIFETIME: 'requested-lifetime',
  /** 3. Relay sockets are never closed when an allocation ends. */
  RELAY_SOCKET_LEAK: 'relay-socket-leak',
  /** 4. Every 401/438 nonce gets a one-hour timer that stop() never clears. */
  NONCE_TIMERS: 'nonce-timers',
  /** 5. ChannelData from the client is dropped by the STUN parser. */
  CHANNEL_DATA_DROPPED: 'channel-data-dropped',
  /** 6. The ChannelBind success response has no MESSAGE-INTEGRITY. */
  CHANNEL_BIND_INTEGRITY: 'channel-bind-integrity',
  /** 7. Unknown comprehension-required attributes: silently dropped instead of 420. */
  UNKNOWN_ATTRIBUTES: 'unknown-attributes',
  /** 8. A second Allocate on the same 5-tuple replaces the first, whose socket leaks. */
  ALLOCATE_SAME_5TUPLE: 'allocate-same-5tuple',
  /** 9. No peer filtering: the server relays into its own networks. */
  PEER_FILTER: 'peer-filter',
} as const;
export type NodeTurnDefect = (typeof NodeTurnDefect)[keyof typeof NodeTurnDefect];

/** TURN over TLS on a port of its own (RFC 8656 section 5), with signaling's certificate. */
export interface TurnTlsConfig {
  /** 0 picks a free one. */
  port: number;
  cert: Buffer;
  key: Buffer;
}

export interface TurnBackendConfig {
  /** Address the STUN/TURN UDP socket (and the TCP and TLS listeners) bind to. */
  listenHost: string;
  /** UDP port (and TCP's, with `tcp`); 0 picks a free one. */
  port: number;
  /** TURN over TCP on the same port number as UDP (RFC 8656 section 5). */
  tcp?: boolean;
  /** TURN over TLS on a port of its own; none: no TLS listener of ours (streams may still be handed over: `acceptTlsStream`). */
  tls?: TurnTlsConfig | null;
  /** Ms a TLS client has to finish its handshake (signaling's `handshakeTimeout`). Default 10000. */
  handshakeTimeoutMs?: number;
  /** Long-term credential realm (`hostname`). */
  realm: string;
  /** Relay address announced in XOR-RELAYED-ADDRESS (`turnIp`). */
  relayAddress: string;
  /** Address relay sockets bind to. */
  relayBindHost: string;
  /** Relay port range, inclusive. */
  relayPorts: readonly [number, number];
  /** Most seconds of lifetime granted (`turnLifetime`): min(requested, this). */
  maxLifetimeSec: number;
  peerFilter: PeerFilter;
  credentials: TurnCredentials;
  quotas: QuotaLimits;
  nonce?: NonceOptions;
  /** SOFTWARE attribute of responses. */
  software?: string;
  logger: Logger;
  /** Test only: leave these node-turn defects in place. */
  unmended?: ReadonlySet<NodeTurnDefect>;
  /**
   * false: no UDP socket of ours, only the TCP/TLS streams (the relay threads
   * serve UDP on `port`: docs/turn-threads.md). Default true.
   */
  udp?: boolean;
  /** Bind the UDP socket with SO_REUSEPORT, next to the other relay threads' (Node >= 22.12). */
  reusePort?: boolean;
  /** Takes the quota slots instead of an `AllocationQuota` over `quotas` (relay threads: the main thread's). */
  quotaLedger?: QuotaLedger;
  /** Where allocations, permissions and channels are counted (3 cells; shared memory in a relay thread). */
  liveCounts?: Float64Array;
  /** Datagrams from clients whose allocation another relay thread owns go there, not to this adapter. */
  foreign?: ForeignClients;
  /** Told the payload bytes of every datagram relayed, both directions (the server's metrics). */
  relayed?: RelayedBytesSink;
  /** Limits against abuse; each one missing takes its default (limits.ts). */
  limits?: Partial<TurnLimits>;
  /**
   * The server's password-guess throttle: asked before every credential
   * check (MESSAGE-INTEGRITY with a username and a valid nonce); a refused
   * request is dropped unanswered. None: unthrottled.
   */
  authGate?: AuthGate;
  /** Told of auth failures and refusals (the server's metrics). */
  events?: TurnEvents;
}

/**
 * Why the adapter refused a request (`webrtc_turn_refused_total{reason}`):
 *  - permission_quota: a CreatePermission/ChannelBind beyond `maxPermissions` (508);
 *  - too_many_peers: a CreatePermission with more than `maxPeersPerRequest` peers (400);
 *  - too_large: a message over `maxMessageBytes` (400 to a request, else dropped);
 *  - lookup_busy: no credential lookup slot (dropped; the client retransmits);
 *  - lookup_timeout: the credential lookup missed its deadline (dropped);
 *  - challenge_rate: a 401/438 (or other unauthenticated error) over its source's budget (dropped);
 *  - stream_limit: a TCP/TLS stream over `streamMaxConnections` / `streamMaxPerIp` (closed as it connects);
 *  - stream_invalid: a stream that cannot be framed, or ChannelData on a stream with no allocation (closed);
 *  - stream_timeout: a TLS handshake not done within `handshakeTimeoutMs`, or a stream without allocation for `streamIdleMs` (closed);
 *  - stream_backlog: relayed data dropped for a stream client that reads too slowly (or its stream closed when it reads nothing).
 */
export type TurnRefusal =
  | 'permission_quota' | 'too_many_peers' | 'too_large' | 'lookup_busy' | 'lookup_timeout' | 'challenge_rate'
  | 'stream_limit' | 'stream_invalid' | 'stream_timeout' | 'stream_backlog';

/** What the adapter tells the server's metrics (cheap calls; never on the data path). */
export interface TurnEvents {
  /** A credential check failed (`count` of them: relay threads report in batches): wrong password, or no such user. */
  authFailed(count?: number): void;
  /** A credential check refused unchecked by the `authGate`. */
  authThrottled(scope: 'ip' | 'username', count?: number): void;
  refused(reason: TurnRefusal, count?: number): void;
}

/**
 * Where the data paths count relayed payload bytes: one call per datagram
 * relayed, peer -> client and client -> peer. Implementations must be cheap
 * (a number added to, no allocation): it runs on every packet.
 */
export interface RelayedBytesSink {
  add(bytes: number): void;
}

export interface TurnStats {
  allocations: number;
  /**
   * Permissions held by all allocations (RFC 8656 section 9). Counted as
   * they change, not by iterating: an expired one counts until it is deleted
   * (at its allocation's next permission change or sweep: `sweepIntervalMs`).
   */
  permissions: number;
  /** Channel bindings held by all allocations (RFC 8656 section 12); may lag expiry like `permissions`. */
  channels: number;
  /** Payload bytes this backend relayed, both directions, since it started. */
  relayedBytes: number;
  relaySockets: number;
  pendingAllocations: number;
  pendingAuthLookups: number;
  /** Nonces node-turn itself holds (0 when mended: ours are stateless). */
  engineNonces: number;
  /** Client streams open (TCP and TLS, handshakes in progress included). */
  streams: number;
}

/** Where each transport listens: UDP always; TCP on the same port, or null; TLS, or null. */
export interface TurnAddresses {
  udp: TurnAddress;
  tcp: TurnAddress | null;
  tls: TurnAddress | null;
}

export interface TurnBackend {
  /** Binds the listening sockets; resolves with the real UDP address. */
  start(): Promise<TurnAddress>;
  /** Closes the listening socket and every relay socket, clears every timer. Idempotent. */
  stop(): Promise<void>;
  /** The bound UDP address, or null before start / after stop. */
  address(): TurnAddress | null;
  /** Every bound address, or null before start / after stop. */
  addresses(): TurnAddresses | null;
  /**
   * A TLS stream whose handshake another listener did (the one port shared
   * with signaling): served as TURN over TLS from its first byte on.
   */
  acceptTlsStream(socket: TLSSocket): void;
  /** New TLS handshakes on TURN's own TLS listener use this certificate (SIGHUP); open streams keep theirs. */
  reloadTls(cert: Buffer, key: Buffer): void;
  /** Called once if the engine fails after start (its socket errors). */
  onFailure(listener: (err: Error) => void): void;
  stats(): TurnStats;
}
