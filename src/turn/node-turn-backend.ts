/**
 * The TURN backend on node-turn@0.0.6, the sole importer of node-turn.
 *
 * node-turn stays the engine: its server dispatches each STUN method, runs
 * the long-term credential exchange (401/438 with REALM and NONCE), checks the
 * allocation and 5-tuple (437, 441), keeps permissions and channel bindings,
 * answers Binding, and encodes every response (MESSAGE-INTEGRITY, FINGERPRINT).
 * This file owns its configuration and mends, from the outside and in this
 * one place, each defect of 0.0.6 (see `NodeTurnDefect`):
 *
 *   - the UDP front replaces node-turn's `network`: it binds the real port
 *     (node-turn turns port 0 into 3478), parses datagrams with our RFC 5769
 *     tested codec, relays client ChannelData (#5), answers 420 (#7), checks
 *     MESSAGE-INTEGRITY in constant time and fetches async credentials first;
 *   - `RelayAllocation` (a subclass of node-turn's Allocation) owns its timer
 *     and relay socket and closes it when it ends (#3), and relays peer data;
 *   - the method handlers Allocate (#2, #8, quotas), Refresh (#1), ChannelBind
 *     (#6), CreatePermission/Send/ChannelBind peer filtering (#9) are replaced
 *     or wrapped on node-turn's handler objects;
 *   - nonces are stateless (#4) and `stop()` closes every socket and timer.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import NodeTurnServer from 'node-turn';
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnAllocation from 'node-turn/lib/allocation.js';
import NodeTurnAttribute from 'node-turn/lib/attribute.js';
import NodeTurnMessage from 'node-turn/lib/message.js';
import NodeTurnTransport from 'node-turn/lib/transport.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { Logger } from 'pino';
import { NonceIssuer } from './nonce.js';
import { AllocationQuota } from './quota.js';
import { RelayPorts } from './relay-ports.js';
import {
  Attr, checkFingerprint, checkIntegrity, decodeChannelData, decodeStun, decodeXorAddress, encodeChannelData,
  encodeErrorCode, encodeStun, encodeUnknownAttributes, encodeXorAddress, getAttribute, ipv6Words, isChannelNumber,
  longTermKey, looksLikeChannelData, newTransactionId, saslprep, StunClass, StunMethod, unknownRequiredAttributes,
} from './stun.js';
import type { StunMessage } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';
import type { RelayedBytesSink, TurnAddress, TurnBackend, TurnBackendConfig, TurnStats } from './turn-backend.js';

/** RFC 8656 section 9: permissions last 300 s (node-turn's own value); channels 600 s (section 12). */
const CHANNEL_LIFETIME_MS = 600_000;
const UDP = CONSTANTS.TRANSPORT.PROTOCOL.UDP;
/** node-turn's Message state for a received message. */
const STATE_INCOMING = 4;
/** Attribute types node-turn's own parser knows. */
const ENGINE_ATTRIBUTES: ReadonlySet<number> = new Set(Object.values(CONSTANTS.ATTR));

/** A node-turn message carrying the datagram we decoded it from. */
type EngineMessage = NodeTurnMessage & { stun?: StunMessage };
type Handler = (msg: EngineMessage, reply: NodeTurnMessage) => void;

/**
 * node-turn's Allocation, made to own its lifetime: one timer, and the relay
 * socket closed when the allocation ends however it ends (mends #3).
 */
class RelayAllocation extends NodeTurnAllocation {
  ended = false;
  readonly channelExpiry = new Map<number, number>();

  constructor(
    msg: NodeTurnMessage,
    readonly socket: Socket,
    lifetime: number,
    readonly owner: string,
    private readonly backend: NodeTurnBackend,
  ) {
    super(msg, [socket], lifetime);
    // node-turn's timer only deletes the table entry (and would delete a newer
    // allocation on the same 5-tuple): replace it by ours.
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.end('expired'), lifetime * 1000);
    // node-turn's peer handler parses peer data that looks like ChannelData as
    // ChannelData and uses async Data indications: replace it by ours.
    socket.removeAllListeners('message');
    socket.on('message', (data, rinfo) => backend.fromPeer(this, data, rinfo));
    socket.on('error', (err) => {
      backend.logger.warn({ err, relay: this.relayedTransportAddress.toString() }, 'TURN relay socket error: allocation ended');
      this.end('relay socket error');
    });
  }

  /** Sets the time to expiry to `lifetime` seconds from now. */
  override update(lifetime?: number): void {
    clearTimeout(this.timer);
    const seconds = lifetime ?? this.lifetime;
    // NaN (node-turn's Refresh, #1 unmended) fires at once, as in node-turn
    this.timer = setTimeout(() => this.end('expired'), seconds * 1000);
    this.timeToExpiry = Date.now() + seconds * 1000;
  }

  remainingSeconds(): number {
    return Math.max(0, Math.round((this.timeToExpiry - Date.now()) / 1000));
  }

  /** The channel bound to peer `address:port`, if live. */
  channelFor(address: string, port: number): number | undefined {
    // Runs per packet from a peer: no array is built.
    for (const key in this.channelBindings) {
      const peer = this.channelBindings[key as unknown as number];
      if (peer && peer.address === address && peer.port === port && this.channelLive(Number(key))) return Number(key);
    }
    return undefined;
  }

  channelLive(channel: number): boolean {
    const expiry = this.channelExpiry.get(channel);
    return expiry === undefined || expiry > Date.now();
  }

  /** An expired channel binding frees its number and its peer (RFC 8656 section 12). */
  purgeExpiredChannels(): void {
    for (const [channel, expiry] of this.channelExpiry) {
      if (expiry > Date.now()) continue;
      this.channelExpiry.delete(channel);
      delete this.channelBindings[channel];
    }
  }

  permitted(address: string): boolean {
    const until = this.permissions[address];
    return until !== undefined && until >= Date.now();
  }

  /** Unexpired permissions (node-turn never deletes expired ones). */
  livePermissions(now: number): number {
    let n = 0;
    for (const until of Object.values(this.permissions)) if (until >= now) n++;
    return n;
  }

  /** Unexpired channel bindings. */
  liveChannels(now: number): number {
    let n = 0;
    for (const [channel, peer] of Object.entries(this.channelBindings)) {
      const expiry = this.channelExpiry.get(Number(channel));
      if (peer && (expiry === undefined || expiry > now)) n++;
    }
    return n;
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.server.allocations[this.fiveTuple] === this) delete this.server.allocations[this.fiveTuple];
    this.backend.allocationEnded(this, reason);
  }
}

/**
 * node-turn's server, plus the source of the request being authenticated.
 * `NodeTurnBackend.mendEngine()` wires the mends onto its own objects.
 */
class EngineServer extends NodeTurnServer {
  /** The transport source of the request being authenticated (nonces are bound to it). */
  nonceSource = '';
}

export class NodeTurnBackend implements TurnBackend {
  readonly logger: Logger;
  private readonly engine: EngineServer;
  private readonly nonces: NonceIssuer;
  private readonly quota: AllocationQuota;
  private readonly unmended: ReadonlySet<NodeTurnDefect>;
  private readonly software: string;
  private socket: Socket | null = null;
  private dst: NodeTurnAddress | null = null;
  private running = false;
  private bound: TurnAddress | null = null;
  private readonly relayPorts: RelayPorts;
  /** Relay sockets of allocations (still open ones; with #3 unmended, leaked ones too). */
  private readonly allocationSockets = new Set<Socket>();
  private readonly liveAllocations = new Set<RelayAllocation>();
  /** 5-tuple -> transaction id of an Allocate still binding its relay socket. */
  private readonly pendingAllocations = new Map<string, string>();
  private failureListener: ((err: Error) => void) | null = null;
  /** Payload bytes relayed, both directions (a plain number: the data path must not allocate). */
  private relayedBytes = 0;
  private readonly relayedSink: RelayedBytesSink | null;

  constructor(private readonly config: TurnBackendConfig) {
    this.logger = config.logger;
    this.unmended = config.unmended ?? new Set();
    this.relayedSink = config.relayed ?? null;
    this.software = config.software ?? 'webrtc-server';
    this.nonces = new NonceIssuer(config.nonce);
    this.quota = new AllocationQuota(config.quotas);
    this.relayPorts = new RelayPorts({ bindHost: config.relayBindHost, range: config.relayPorts, maxReservations: config.quotas.total });
    this.engine = new EngineServer({
      listeningIps: [config.listenHost],
      listeningPort: config.port,
      relayIps: [config.relayBindHost],
      externalIps: config.relayAddress,
      minPort: config.relayPorts[0],
      maxPort: config.relayPorts[1],
      maxAllocateLifetime: config.maxLifetimeSec,
      defaultAllocatetLifetime: config.maxLifetimeSec,
      authMech: 'long-term',
      realm: config.realm,
      credentials: this.credentialsView(),
      debug: (level: string, msg: unknown) => this.engineLog(level, msg),
    });
    this.engine.software = this.software;
    this.mendEngine();
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<TurnAddress> {
    if (this.socket) throw new Error('TURN backend already started');
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      // mends "listeningPort: 0 means 3478": we bind what we are given
      socket.bind({ address: this.config.listenHost, port: this.config.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const { address, port } = socket.address();
    this.socket = socket;
    this.running = true;
    this.bound = { host: address, port };
    this.dst = new NodeTurnAddress(address, port);
    this.engine.listeningPort = port;
    this.engine.network.sockets = [socket];
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    socket.on('error', (err) => this.fail(err));
    return this.bound;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.running = false;
    this.socket = null;
    this.bound = null;
    for (const allocation of [...this.liveAllocations]) allocation.end('shutdown');
    for (const relay of [...this.allocationSockets]) this.closeRelaySocket(relay);
    this.relayPorts.closeAll();
    for (const allocation of Object.values(this.engine.allocations)) clearTimeout(allocation.timer);
    this.engine.allocations = {};
    this.pendingAllocations.clear();
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  address(): TurnAddress | null {
    return this.bound;
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListener = listener;
  }

  stats(): TurnStats {
    const now = Date.now();
    let permissions = 0;
    let channels = 0;
    for (const allocation of Object.values(this.engine.allocations) as RelayAllocation[]) {
      permissions += allocation.livePermissions(now);
      channels += allocation.liveChannels(now);
    }
    return {
      allocations: Object.keys(this.engine.allocations).length,
      permissions,
      channels,
      relayedBytes: this.relayedBytes,
      relaySockets: this.allocationSockets.size + this.relayPorts.open,
      pendingAllocations: this.pendingAllocations.size,
      pendingAuthLookups: this.config.credentials.pendingLookups,
      engineNonces: Object.keys(this.engine.authentification.nonces).length,
    };
  }

  private fail(err: Error): void {
    if (!this.running) return;
    this.logger.error({ err }, 'TURN listening socket failed');
    void this.stop().finally(() => this.failureListener?.(err));
  }

  private isMended(defect: NodeTurnDefect): boolean {
    return !this.unmended.has(defect);
  }

  private engineLog(level: string, msg: unknown): void {
    if (level === 'FATAL' || level === 'ERROR') this.logger.warn({ engine: 'node-turn' }, String(msg instanceof Error ? msg.message : msg));
    else if (this.logger.isLevelEnabled('trace')) this.logger.trace({ engine: 'node-turn' }, String(msg));
  }

  // ------------------------------------------------------- engine wiring (mends)

  /**
   * node-turn reads `credentials[username]` synchronously: a Proxy over the
   * credential cache. The value is the SASLprep'd password, which is what
   * node-turn's MD5 key for response MESSAGE-INTEGRITY needs.
   */
  private credentialsView(): Record<string, string> {
    const credentials = this.config.credentials;
    return new Proxy<Record<string, string>>(Object.create(null) as Record<string, string>, {
      get: (_t, key) => {
        if (typeof key !== 'string') return undefined;
        const credential = credentials.peek(key);
        return credential ? saslprep(credential.password) : undefined;
      },
      has: (_t, key) => typeof key === 'string' && Boolean(credentials.peek(key)),
      set: () => true,
      deleteProperty: (_t, key) => {
        if (typeof key === 'string') credentials.cache.forget(key);
        return true;
      },
      ownKeys: () => [],
    });
  }

  private mendEngine(): void {
    const engine = this.engine;
    const auth = engine.authentification;
    if (this.isMended(NodeTurnDefect.NONCE_TIMERS)) {
      const longTermAuth = auth.auth.bind(auth);
      auth.auth = (msg, cb) => {
        engine.nonceSource = sourceKey(msg.transport.src);
        try {
          longTermAuth(msg, cb);
        } finally {
          engine.nonceSource = '';
        }
      };
      auth.generateNonce = () => this.nonces.issue(engine.nonceSource);
      auth.checkNonce = (nonce) => this.nonces.check(nonce, engine.nonceSource);
    }
    const originalRefresh = engine.refresh.refresh.bind(engine.refresh);
    const originalCreatePermission = engine.createPermission.createPermission.bind(engine.createPermission);
    const originalSend = engine.send.send.bind(engine.send);
    const originalChannelBind = engine.channelBind.channelBind.bind(engine.channelBind);
    const guard = (name: string, handler: Handler): Handler => (msg, reply) => {
      try {
        handler(msg, reply);
      } catch (err) {
        this.logger.warn({ err, method: name }, 'TURN request failed');
        if (msg.class === CONSTANTS.CLASS.REQUEST && this.running) this.safely(() => reply.reject(500, 'Server Error'));
      }
    };
    engine.allocate.allocate = guard('allocate', (msg, reply) => this.onAllocate(msg, reply));
    engine.refresh.refresh = guard('refresh', this.isMended(NodeTurnDefect.REFRESH_LIFETIME)
      ? (msg, reply) => this.onRefresh(msg, reply)
      : originalRefresh);
    engine.createPermission.createPermission = guard('createPermission', (msg, reply) => {
      if (this.refusePeers(msg, reply, false)) return;
      originalCreatePermission(msg, reply);
    });
    engine.send.send = guard('send', (msg, reply) => {
      const peer = msg.getAttribute('xor-peer-address') as NodeTurnAddress | undefined;
      if (peer && this.isMended(NodeTurnDefect.PEER_FILTER) && this.config.peerFilter.checkDestination(peer.address, peer.port) !== 'allowed') return;
      // node-turn's handler sends DATA to a permitted peer and drops anything else: count what it will send
      const data = msg.getAttribute('data') as Buffer | undefined;
      if (peer && data && (msg.allocation as RelayAllocation | undefined)?.permitted(peer.address)) this.relayed(data.length);
      originalSend(msg, reply);
    });
    engine.channelBind.channelBind = guard('channelBind', (msg, reply) => {
      if (this.refusePeers(msg, reply, true)) return;
      if (this.isMended(NodeTurnDefect.CHANNEL_BIND_INTEGRITY)) this.onChannelBind(msg, reply);
      else originalChannelBind(msg, reply);
    });
  }

  // ------------------------------------------------------------ the UDP front

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    if (!this.running) return;
    try {
      if (looksLikeChannelData(buf) && this.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) {
        this.fromClientChannelData(buf, rinfo);
        return;
      }
      const m = decodeStun(buf);
      if (!m) {
        if (!this.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED)) this.engineRead(buf, rinfo);
        return;
      }
      if (checkFingerprint(m) === 'invalid') return;
      if (!this.isMended(NodeTurnDefect.UNKNOWN_ATTRIBUTES) && m.attributes.some((a) => !ENGINE_ATTRIBUTES.has(a.type))) {
        this.engineRead(buf, rinfo); // node-turn's parser: throws on any attribute it does not know
        return;
      }
      if (m.cls === StunClass.REQUEST) {
        const unknown = unknownRequiredAttributes(m);
        if (unknown.length > 0) {
          this.replyUnknownAttributes(m, rinfo, unknown);
          return;
        }
      } else if (m.cls === StunClass.INDICATION) {
        if (unknownRequiredAttributes(m).length > 0) return; // RFC 5389 section 7.3.2: discard
      } else {
        return; // responses: this server sends no requests
      }
      this.authenticateThenDeliver(m, rinfo);
    } catch (err) {
      this.logger.debug({ err, from: `${rinfo.address}:${rinfo.port}` }, 'TURN datagram dropped');
    }
  }

  /** node-turn's own network path (used only when a parser mend is switched off). */
  private engineRead(buf: Buffer, rinfo: RemoteInfo): void {
    const msg = new NodeTurnMessage(this.engine, this.transportFrom(rinfo));
    if (msg.read(buf)) this.engine.emit('message', msg);
  }

  /**
   * A request that will need a password not yet cached waits for the
   * `Authenticator` (async auth). Only requests carrying USERNAME,
   * MESSAGE-INTEGRITY and a valid nonce of ours trigger a lookup.
   */
  private authenticateThenDeliver(m: StunMessage, rinfo: RemoteInfo): void {
    const username = getAttribute(m, Attr.USERNAME);
    const nonce = getAttribute(m, Attr.NONCE);
    const needsLookup = m.cls === StunClass.REQUEST && m.method !== StunMethod.BINDING && username !== undefined
      && getAttribute(m, Attr.MESSAGE_INTEGRITY) !== undefined && nonce !== undefined
      && (!this.isMended(NodeTurnDefect.NONCE_TIMERS) || this.nonces.check(nonce.value.toString('utf8'), sourceKey(rinfo)));
    if (needsLookup) {
      const pending = this.config.credentials.fetch(username.value.toString('utf8'));
      if (pending === 'busy') return;
      if (pending) {
        pending.then(() => this.deliver(m, rinfo), () => this.deliver(m, rinfo));
        return;
      }
    }
    this.deliver(m, rinfo);
  }

  private deliver(m: StunMessage, rinfo: RemoteInfo): void {
    if (!this.running) return;
    const transport = this.transportFrom(rinfo);
    let msg: EngineMessage;
    try {
      msg = this.toEngineMessage(m, transport);
    } catch {
      if (m.cls === StunClass.REQUEST) this.sendError(m, rinfo, 400, 'Bad Request');
      return;
    }
    try {
      this.engine.emit('message', msg);
    } catch (err) {
      this.logger.warn({ err, from: `${rinfo.address}:${rinfo.port}` }, 'TURN message failed');
    }
  }

  /**
   * A node-turn Message built from our decoding: node-turn's own parser throws
   * on any attribute it does not know (even comprehension-optional ones),
   * reads past the message length and compares HMACs as strings.
   */
  private toEngineMessage(m: StunMessage, transport: NodeTurnTransport): EngineMessage {
    const msg: EngineMessage = new NodeTurnMessage(this.engine, transport);
    msg._state = STATE_INCOMING;
    msg.class = m.cls;
    msg.method = m.method;
    msg.magicCookie = CONSTANTS.MAGIC_COOKIE;
    msg.transactionID = m.transactionId.toString('hex');
    msg.stun = m;
    let afterIntegrity = false;
    for (const a of m.attributes) {
      if (afterIntegrity && a.type !== Attr.FINGERPRINT) continue; // RFC 5389 section 15.4
      const value = this.attributeValue(m, a.type, a.value);
      if (value === undefined) continue;
      const attr = new NodeTurnAttribute(msg);
      attr.type = a.type;
      attr.length = a.value.length;
      attr.padding = (4 - (a.value.length % 4)) % 4;
      attr.value = value;
      msg.attributes.push(attr);
      msg.length += 4 + attr.length + attr.padding;
      if (a.type === Attr.MESSAGE_INTEGRITY) afterIntegrity = true;
    }
    return msg;
  }

  /** The value node-turn expects for an attribute; undefined to leave it out; throws when malformed. */
  private attributeValue(m: StunMessage, type: number, value: Buffer): unknown {
    switch (type) {
      case Attr.USERNAME:
      case Attr.REALM:
      case Attr.NONCE:
      case Attr.SOFTWARE:
        return value.toString('utf8');
      case Attr.MESSAGE_INTEGRITY:
        return this.integrityValid(m) ? value.toString('hex') : false;
      case Attr.FINGERPRINT:
        return value.readUInt32BE(0);
      case Attr.CHANNEL_NUMBER:
        return value.readUInt16BE(0);
      case Attr.LIFETIME:
        if (value.length !== 4) throw new RangeError('LIFETIME');
        return value.readUInt32BE(0);
      case Attr.XOR_PEER_ADDRESS: {
        const peer = decodeXorAddress(value, m.transactionId);
        if (!peer) throw new RangeError('XOR-PEER-ADDRESS');
        // node-turn's Address mis-expands some "::" forms: give it all 8 words
        const address = peer.family === 4 ? peer.address : ipv6Words(peer.address)!.map((w) => w.toString(16)).join(':');
        return new NodeTurnAddress(address, peer.port);
      }
      case Attr.DATA:
        return value;
      case Attr.EVEN_PORT:
        if (value.length < 1) throw new RangeError('EVEN-PORT');
        return (value[0]! & 0x80) !== 0;
      case Attr.REQUESTED_TRANSPORT:
        if (value.length !== 4) throw new RangeError('REQUESTED-TRANSPORT');
        return value[0];
      case Attr.DONT_FRAGMENT:
        return true;
      case Attr.RESERVATION_TOKEN:
        return value.toString('latin1');
      default:
        return undefined; // attributes without meaning in a request, or unknown optional ones
    }
  }

  /** MESSAGE-INTEGRITY with the long-term key of USERNAME, in constant time. */
  private integrityValid(m: StunMessage): boolean {
    const username = getAttribute(m, Attr.USERNAME)?.value.toString('utf8');
    if (username === undefined) return false;
    const credential = this.config.credentials.peek(username);
    if (!credential) return false;
    return checkIntegrity(m, longTermKey(username, this.config.realm, credential.password)) === 'valid';
  }

  private transportFrom(rinfo: RemoteInfo): NodeTurnTransport {
    return new NodeTurnTransport(UDP, new NodeTurnAddress(rinfo.address, rinfo.port), this.dst!, this.socket!);
  }

  /** 420 with UNKNOWN-ATTRIBUTES (RFC 5389 section 7.3.1; mends #7). */
  private replyUnknownAttributes(m: StunMessage, rinfo: RemoteInfo, unknown: number[]): void {
    this.sendError(m, rinfo, 420, 'Unknown Attribute', [[Attr.UNKNOWN_ATTRIBUTES, encodeUnknownAttributes(unknown)]]);
  }

  private sendError(m: StunMessage, rinfo: RemoteInfo, code: number, reason: string, extra: [number, Buffer][] = []): void {
    const out = encodeStun(m.method, StunClass.ERROR, m.transactionId, [
      [Attr.ERROR_CODE, encodeErrorCode(code, reason)],
      ...extra,
      [Attr.SOFTWARE, Buffer.from(this.software)],
    ], { fingerprint: checkFingerprint(m) === 'valid' });
    this.sendTo(out, rinfo.address, rinfo.port);
  }

  private sendTo(out: Buffer, address: string, port: number): void {
    const socket = this.socket;
    if (!socket || !this.running) return;
    socket.send(out, port, address, this.onSent);
  }

  /** Runs a node-turn reply (which throws if its socket has closed meanwhile). */
  private safely(fn: () => void): void {
    if (!this.running) return;
    try {
      fn();
    } catch (err) {
      this.logger.debug({ err }, 'TURN reply not sent');
    }
  }

  // ------------------------------------------------------------- data paths

  /** Client -> peer ChannelData (RFC 8656 section 12.6; mends #5). */
  private fromClientChannelData(buf: Buffer, rinfo: RemoteInfo): void {
    const allocation = this.engine.allocations[this.transportFrom(rinfo).get5Tuple()] as RelayAllocation | undefined;
    const frame = decodeChannelData(buf);
    if (!allocation || !frame) return;
    const peer = allocation.channelBindings[frame.channel];
    if (!peer || !allocation.channelLive(frame.channel) || !allocation.permitted(peer.address)) return;
    if (this.isMended(NodeTurnDefect.PEER_FILTER) && !this.peerAllowed(peer)) return;
    this.relayed(frame.data.length);
    allocation.socket.send(frame.data, peer.port, peer.address, this.onRelaySent);
  }

  /** The peer filter's verdict on a channel's peer, computed once per binding (ChannelData runs per packet). */
  private peerAllowed(peer: { address: string; port: number }): boolean {
    let allowed = this.channelPeerVerdicts.get(peer);
    if (allowed === undefined) {
      allowed = this.config.peerFilter.checkDestination(peer.address, peer.port) === 'allowed';
      this.channelPeerVerdicts.set(peer, allowed);
    }
    return allowed;
  }

  private readonly channelPeerVerdicts = new WeakMap<object, boolean>();
  private readonly onRelaySent = (err: Error | null): void => {
    if (err) this.logger.debug({ err }, 'TURN relay send failed');
  };
  private readonly onSent = (err: Error | null): void => {
    if (err) this.logger.debug({ err }, 'TURN send failed');
  };

  /** Peer -> client: ChannelData when a channel is bound, else a Data indication (RFC 8656 section 11.6). */
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void {
    if (!this.running || allocation.ended || !allocation.permitted(rinfo.address)) return;
    const client = allocation.transport.dst;
    const channel = allocation.channelFor(rinfo.address, rinfo.port);
    this.relayed(data.length);
    if (channel !== undefined) {
      this.sendTo(encodeChannelData(channel, data), client.address, client.port);
      return;
    }
    const id = newTransactionId();
    this.sendTo(encodeStun(StunMethod.DATA, StunClass.INDICATION, id, [
      [Attr.XOR_PEER_ADDRESS, encodeXorAddress({ address: rinfo.address, port: rinfo.port }, id)],
      [Attr.DATA, data],
    ]), client.address, client.port);
  }

  /** Counts relayed payload bytes: a number added to, no allocation (runs per packet). */
  private relayed(bytes: number): void {
    this.relayedBytes += bytes;
    this.relayedSink?.add(bytes);
  }

  // ----------------------------------------------------------- method handlers

  /** Allocate (RFC 8656 section 7.2): node-turn's, with #2, #8 and quotas mended. */
  private onAllocate(msg: EngineMessage, reply: NodeTurnMessage): void {
    const fiveTuple = msg.transport.get5Tuple();
    const transactionId = msg.transactionID ?? '';
    if (this.isMended(NodeTurnDefect.ALLOCATE_SAME_5TUPLE)) {
      const existing = this.engine.allocations[fiveTuple] as RelayAllocation | undefined;
      if (existing) {
        if (existing.transactionID === transactionId) this.replyAllocated(existing, reply, existing.remainingSeconds());
        else reply.reject(437, 'Allocation Mismatch');
        return;
      }
      const pending = this.pendingAllocations.get(fiveTuple);
      if (pending !== undefined) {
        if (pending !== transactionId) reply.reject(437, 'Allocation Mismatch');
        return; // a retransmission: the first one's answer is on its way
      }
    }
    const transport = msg.getAttribute('requested-transport') as number | undefined;
    if (transport === undefined) return reply.reject(400, 'Bad Request');
    if (transport !== UDP) return reply.reject(442, 'Unsupported Transport Protocol');
    const family = msg.stun && getAttribute(msg.stun, Attr.REQUESTED_ADDRESS_FAMILY);
    if (family && family.value[0] !== 0x01) return reply.reject(440, 'Address Family not Supported');
    const evenPort = msg.getAttribute('even-port') as boolean | undefined;
    const token = msg.getAttribute('reservation-token') as string | undefined;
    if (token !== undefined && evenPort !== undefined) return reply.reject(400, 'Bad Request');
    const owner = this.ownerOf(msg);
    const quota = this.quota.take(owner);
    if (quota === 'user') return reply.reject(486, 'Allocation Quota Reached');
    if (quota === 'total') return reply.reject(508, 'Insufficient Capacity');
    const lifetime = this.grantedLifetime(msg.getAttribute('lifetime') as number | undefined);
    let relay: Promise<{ socket: Socket; token?: string }>;
    if (token !== undefined) {
      const reserved = this.relayPorts.redeem(token);
      relay = reserved ? Promise.resolve({ socket: reserved }) : Promise.reject(new Error('unknown reservation token'));
    } else {
      relay = this.relayPorts.acquire(evenPort !== undefined, evenPort === true);
    }
    this.pendingAllocations.set(fiveTuple, transactionId);
    relay.then(
      ({ socket, token: reservation }) => {
        if (this.pendingAllocations.get(fiveTuple) === transactionId) this.pendingAllocations.delete(fiveTuple);
        this.allocationSockets.add(socket);
        if (!this.running) {
          this.quota.release(owner);
          this.closeRelaySocket(socket);
          return;
        }
        try {
          const allocation = new RelayAllocation(msg, socket, lifetime, owner, this);
          this.liveAllocations.add(allocation);
          this.logger.debug({ user: owner, relay: allocation.relayedTransportAddress.toString(), lifetime }, 'TURN allocation');
          if (reservation !== undefined) reply.addAttribute('reservation-token', reservation);
          this.replyAllocated(allocation, reply, lifetime);
        } catch (err) {
          this.quota.release(owner);
          this.closeRelaySocket(socket);
          this.logger.warn({ err }, 'TURN allocation failed');
          this.safely(() => reply.reject(500, 'Server Error'));
        }
      },
      (err: unknown) => {
        if (this.pendingAllocations.get(fiveTuple) === transactionId) this.pendingAllocations.delete(fiveTuple);
        this.quota.release(owner);
        this.logger.debug({ err }, 'TURN allocation refused: no relay port');
        this.safely(() => reply.reject(508, 'Insufficient Capacity'));
      },
    );
  }

  private replyAllocated(allocation: RelayAllocation, reply: NodeTurnMessage, lifetime: number): void {
    reply.addAttribute('xor-relayed-address', allocation.relayedTransportAddress);
    reply.addAttribute('lifetime', lifetime);
    reply.addAttribute('xor-mapped-address', allocation.mappedAddress);
    reply.addAttribute('software', this.software);
    reply.addAttribute('message-integrity');
    this.safely(() => reply.resolve());
  }

  /** min(requested, turnLifetime), at least 1 s (mends #2: node-turn reads 'liftetime'). */
  private grantedLifetime(requested: number | undefined): number {
    const max = this.config.maxLifetimeSec;
    if (!this.isMended(NodeTurnDefect.REQUESTED_LIFETIME)) return max; // node-turn: the default, always
    if (requested === undefined) return max;
    return Math.max(1, Math.min(requested, max));
  }

  /** Refresh (RFC 8656 section 7.3; mends #1): LIFETIME 0 deletes, else min(requested, turnLifetime). */
  private onRefresh(msg: EngineMessage, reply: NodeTurnMessage): void {
    const allocation = msg.allocation as RelayAllocation;
    const requested = msg.getAttribute('lifetime') as number | undefined;
    const family = msg.stun && getAttribute(msg.stun, Attr.REQUESTED_ADDRESS_FAMILY);
    if (family && family.value[0] !== 0x01) return reply.reject(443, 'Peer Address Family Mismatch');
    const lifetime = requested === 0 ? 0 : requested === undefined ? this.config.maxLifetimeSec : Math.max(1, Math.min(requested, this.config.maxLifetimeSec));
    if (lifetime === 0) allocation.end('refreshed with lifetime 0');
    else allocation.update(lifetime);
    reply.addAttribute('lifetime', lifetime);
    reply.addAttribute('software', this.software);
    reply.addAttribute('message-integrity');
    reply.resolve();
  }

  /** ChannelBind (RFC 8656 section 12.2): node-turn's checks, a channel lifetime, and MESSAGE-INTEGRITY (mends #6). */
  private onChannelBind(msg: EngineMessage, reply: NodeTurnMessage): void {
    const allocation = msg.allocation as RelayAllocation;
    const channel = msg.getAttribute('channel-number') as number | undefined;
    const peer = msg.getAttribute('xor-peer-address') as NodeTurnAddress | undefined;
    if (channel === undefined || !peer || !isChannelNumber(channel)) return reply.reject(400, 'Bad Request');
    allocation.purgeExpiredChannels();
    const boundPeer = allocation.channelBindings[channel];
    if (boundPeer && (boundPeer.address !== peer.address || boundPeer.port !== peer.port)) return reply.reject(400, 'Bad Request');
    const boundChannel = allocation.getPeerChannelNumber(peer);
    if (boundChannel !== undefined && boundChannel !== channel) return reply.reject(400, 'Bad Request');
    allocation.permit(peer.address);
    allocation.channelBindings[channel] = peer;
    allocation.channelExpiry.set(channel, Date.now() + CHANNEL_LIFETIME_MS);
    reply.addAttribute('software', this.software);
    reply.addAttribute('message-integrity');
    reply.resolve();
  }

  /**
   * Peer filtering (mends #9): 403 when a peer is refused, 443 for an IPv6
   * peer (the relay is IPv4). True when the request was answered here.
   */
  private refusePeers(msg: EngineMessage, reply: NodeTurnMessage, withPort: boolean): boolean {
    if (!this.isMended(NodeTurnDefect.PEER_FILTER)) return false;
    const filter = this.config.peerFilter;
    for (const peer of msg.getAttributes('xor-peer-address') as NodeTurnAddress[]) {
      const verdict = withPort ? filter.checkDestination(peer.address, peer.port) : filter.checkPeer(peer.address);
      if (verdict === 'invalid') {
        reply.reject(400, 'Bad Request');
        return true;
      }
      if (verdict === 'denied') {
        this.logger.info({ peer: `${peer.address}:${peer.port}`, user: msg.user?.username }, 'TURN peer refused (403)');
        reply.reject(403, 'Forbidden');
        return true;
      }
      if (!isIPv4(peer.address)) {
        reply.reject(443, 'Peer Address Family Mismatch');
        return true;
      }
    }
    return false;
  }

  private ownerOf(msg: NodeTurnMessage): string {
    const username = msg.user?.username ?? '';
    return this.config.credentials.peek(username)?.name ?? username;
  }

  // ------------------------------------------------------------- relay sockets

  private closeRelaySocket(socket: Socket): void {
    this.allocationSockets.delete(socket);
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  /** Called once per allocation when it ends. */
  allocationEnded(allocation: RelayAllocation, reason: string): void {
    if (!this.liveAllocations.delete(allocation)) return;
    this.quota.release(allocation.owner);
    this.logger.debug({ user: allocation.owner, relay: allocation.relayedTransportAddress.toString(), reason }, 'TURN allocation ended');
    // mends #3: node-turn never closes the relay socket
    if (this.isMended(NodeTurnDefect.RELAY_SOCKET_LEAK) || !this.running) this.closeRelaySocket(allocation.socket);
  }
}

function sourceKey(src: { address: string; port: number }): string {
  return `${src.address}:${src.port}`;
}
