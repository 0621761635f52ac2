/**
 * The TURN backend on node-turn@0.0.6: this file only wires the adapter
 * together (pion's server.go) and owns the listening socket's lifecycle.
 *
 * node-turn stays the engine: its server dispatches each STUN method, runs
 * the long-term credential exchange (401/438 with REALM and NONCE), checks the
 * allocation and 5-tuple (437, 441), keeps permissions and channel bindings,
 * answers Binding, and encodes every response (MESSAGE-INTEGRITY, FINGERPRINT).
 * The adapter owns its configuration and mends, from the outside and in these
 * files only, each defect of 0.0.6 (see `NodeTurnDefect`):
 *
 *   - node-turn-engine.ts: node-turn's server on our configuration, the
 *     credential view, and stateless nonces (#4);
 *   - listen.ts binds the sockets node-turn's `network` would (it turns port
 *     0 into 3478): UDP, TCP on the same port, TLS on its own;
 *   - udp-front.ts replaces node-turn's `network` on the UDP socket: each
 *     datagram is one message;
 *   - stream-front.ts serves TCP and TLS streams (RFC 8656 section 5): each
 *     stream is one 5-tuple (stream-link.ts, node-turn's transport for it)
 *     framed by stream-framer.ts, bounded (stream-admission.ts), and ends its
 *     allocation when it closes;
 *   - message-intake.ts: every front's messages, the same way: refuses
 *     oversized messages and CreatePermissions with too many peers before
 *     decoding them, parses with our RFC 5769 tested codec, answers 420
 *     (#7), hands requests to the request guard and the rest to the engine;
 *   - relay-path.ts: client ChannelData to peers (#5) and peer data back to
 *     the client, on whichever transport the allocation came in;
 *   - request-guard.ts decides on each request before node-turn sees it:
 *     async credential lookups (credentials.ts: deadline, per-source cap),
 *     the password-guess throttle, MESSAGE-INTEGRITY in constant time, auth
 *     failures counted and logged, and a per-source budget of 401/438;
 *   - engine-message.ts turns our decoding into node-turn's Message;
 *   - relay-allocation.ts: `RelayAllocation` (a subclass of node-turn's
 *     Allocation) owns its timer and relay socket and closes it when it ends
 *     (#3), deletes expired permissions and channels and counts them;
 *   - allocation-table.ts: relay ports, quotas (EVEN-PORT reservations
 *     included), relay sockets, live and pending allocations, the sweep;
 *   - turn-handlers.ts: the method handlers Allocate (#2, #8, quotas),
 *     Refresh (#1), ChannelBind (#6), CreatePermission/Send/ChannelBind peer
 *     filtering (#9) and the permission cap, replaced or wrapped on
 *     node-turn's handler objects;
 *   - adapter-context.ts: what those parts share (no node-turn import):
 *     configuration, limits (limits.ts), live counts, events.
 *
 * Only the adapter files above (and node-turn.d.ts, its declarations) import
 * node-turn. `stop()` closes every socket and timer. `stats()` is O(1): it
 * reads counts kept as allocations, permissions and channels change.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server as TcpServer } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { AdapterContext } from './adapter-context.js';
import { AllocationTable } from './allocation-table.js';
import { bindUdpAndTcp, listenTcp, listenTls } from './listen.js';
import { MessageIntake } from './message-intake.js';
import { createEngine, mendNonces } from './node-turn-engine.js';
import { NonceIssuer } from './nonce.js';
import { RelayPath } from './relay-path.js';
import { StreamFront } from './stream-front.js';
import { TurnHandlers } from './turn-handlers.js';
import { NodeTurnDefect } from './turn-backend.js';
import type { TurnAddress, TurnAddresses, TurnBackend, TurnBackendConfig, TurnStats } from './turn-backend.js';
import { UdpFront } from './udp-front.js';

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export class NodeTurnBackend implements TurnBackend {
  readonly logger: Logger;
  private readonly ctx: AdapterContext;
  private readonly intake: MessageIntake;
  private readonly front: UdpFront;
  private readonly streams: StreamFront;
  private readonly allocations: AllocationTable;
  private socket: UdpSocket | null = null;
  private tcp: TcpServer | null = null;
  private tls: TlsServer | null = null;
  private bound: TurnAddresses | null = null;
  private failureListener: ((err: Error) => void) | null = null;

  constructor(private readonly config: TurnBackendConfig) {
    this.logger = config.logger;
    const software = config.software ?? 'webrtc-server';
    const nonces = new NonceIssuer(config.nonce);
    const engine = createEngine(config, software, this.logger);
    this.ctx = new AdapterContext(config, engine, software);
    const relay = new RelayPath(this.ctx);
    this.intake = new MessageIntake(this.ctx, nonces, relay);
    this.allocations = new AllocationTable(this.ctx, relay);
    this.front = new UdpFront(this.ctx, this.intake, relay, this.allocations.udpClients);
    this.streams = new StreamFront(this.ctx, this.intake);
    if (this.ctx.isMended(NodeTurnDefect.NONCE_TIMERS)) mendNonces(engine, nonces);
    new TurnHandlers(this.ctx, this.allocations).install();
  }

  async start(): Promise<TurnAddress> {
    if (this.socket || this.ctx.running) throw new Error('TURN backend already started');
    const host = this.config.listenHost;
    if (this.config.udp === false) return this.startStreamsOnly(host);
    const { udp, tcp } = await bindUdpAndTcp(host, this.config.port, this.config.tcp === true, this.streams, this.config.reusePort === true);
    let tls: TlsServer | null = null;
    if (this.config.tls) {
      try {
        tls = await listenTls(host, this.config.tls, this.config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, this.streams);
      } catch (err) {
        udp.close();
        tcp?.close();
        throw err;
      }
    }
    this.socket = udp;
    this.tcp = tcp;
    this.tls = tls;
    this.ctx.running = true;
    const { address, port } = udp.address();
    this.bound = { udp: { host: address, port }, tcp: tcp && serverAddress(tcp), tls: tls && serverAddress(tls) };
    this.front.listen(udp);
    this.allocations.startSweeping();
    udp.on('error', (err) => this.fail(err));
    tcp?.on('error', (err) => this.fail(err));
    tls?.on('error', (err) => this.fail(err));
    return this.bound.udp;
  }

  /**
   * TCP and TLS only (`udp: false`): the relay threads serve UDP on `port`,
   * which the UDP address reports.
   */
  private async startStreamsOnly(host: string): Promise<TurnAddress> {
    const tcp = this.config.tcp === true ? await listenTcp(host, this.config.port, this.streams) : null;
    let tls: TlsServer | null = null;
    if (this.config.tls) {
      try {
        tls = await listenTls(host, this.config.tls, this.config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, this.streams);
      } catch (err) {
        tcp?.close();
        throw err;
      }
    }
    this.tcp = tcp;
    this.tls = tls;
    this.ctx.running = true;
    this.bound = { udp: { host, port: this.config.port }, tcp: tcp && serverAddress(tcp), tls: tls && serverAddress(tls) };
    this.allocations.startSweeping();
    tcp?.on('error', (err) => this.fail(err));
    tls?.on('error', (err) => this.fail(err));
    return this.bound.udp;
  }

  /** A datagram another relay thread received from a client of this one: handled as if it came in here. */
  injectDatagram(buf: Buffer, address: string, port: number): void {
    this.front.inject(buf, address, port);
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    const servers = [this.tcp, this.tls].filter((s): s is TcpServer => s !== null);
    this.ctx.running = false;
    this.socket = null;
    this.tcp = null;
    this.tls = null;
    this.front.close();
    this.bound = null;
    this.allocations.closeAll();
    this.streams.closeAll();
    this.config.credentials.close();
    await Promise.all([
      ...servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      socket && new Promise<void>((resolve) => socket.close(() => resolve())),
    ]);
  }

  address(): TurnAddress | null {
    return this.bound?.udp ?? null;
  }

  addresses(): TurnAddresses | null {
    return this.bound;
  }

  /** A TLS stream handed over by the listener it shares a port with (signaling's). */
  acceptTlsStream(socket: TLSSocket): void {
    if (this.streams.admit(socket)) this.streams.serve(socket, 'tls');
  }

  reloadTls(cert: Buffer, key: Buffer): void {
    this.tls?.setSecureContext({ cert, key });
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListener = listener;
  }

  /** O(1): counts kept as they change (permissions and channels may lag expiry by `sweepIntervalMs`). */
  stats(): TurnStats {
    const counts = this.ctx.counts;
    return {
      allocations: counts.allocations,
      permissions: counts.permissions,
      channels: counts.channels,
      relayedBytes: this.ctx.relayedBytes,
      relaySockets: this.allocations.relaySockets,
      pendingAllocations: this.allocations.pending.size,
      pendingAuthLookups: this.config.credentials.pendingLookups,
      engineNonces: this.engineNonces(),
      streams: this.streams.streams,
    };
  }

  /** node-turn's own nonces: none when #4 is mended (ours are stateless), so nothing to count. */
  private engineNonces(): number {
    if (this.ctx.isMended(NodeTurnDefect.NONCE_TIMERS)) return 0;
    return Object.keys(this.ctx.engine.authentification.nonces).length;
  }

  private fail(err: Error): void {
    if (!this.ctx.running) return;
    this.logger.error({ err }, 'TURN listening socket failed');
    void this.stop().finally(() => this.failureListener?.(err));
  }
}

function serverAddress(server: TcpServer): TurnAddress {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('TURN stream listener has no address');
  return { host: a.address, port: a.port };
}
