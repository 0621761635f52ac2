/**
 * TURN test helpers: a backend on 127.0.0.1 port 0, a raw STUN/TURN client
 * built on our codec (for what real clients never send: unknown attributes,
 * a second Allocate, LIFETIME 0...), and a UDP peer. Every wait is bounded.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { StreamFramer } from '../../src/turn/stream-framer.js';
import type { Logger } from 'pino';
import { TurnCredentialCache } from '../../src/turn/credential-cache.js';
import { TurnCredentials } from '../../src/turn/credentials.js';
import type { TurnCredentialsOptions } from '../../src/turn/credentials.js';
import { NodeTurnBackend } from '../../src/turn/node-turn-backend.js';
import { PeerFilter } from '../../src/turn/peer-filter.js';
import type { PeerFilterConfig } from '../../src/turn/peer-filter.js';
import {
  Attr, checkIntegrity, decodeChannelData, decodeErrorCode, decodeStun, decodeXorAddress, encodeChannelData,
  encodeStun, encodeXorAddress, getAttribute, longTermKey, newTransactionId, StunClass, StunMethod, u32,
} from '../../src/turn/stun.js';
import type { StunMessage, TransportAddress } from '../../src/turn/stun.js';
import type { NodeTurnDefect, RelayedBytesSink, TurnBackendConfig, TurnEvents, TurnRefusal } from '../../src/turn/turn-backend.js';
import type { TurnLimits } from '../../src/turn/limits.js';
import type { Authenticator } from '../../src/auth/authenticator.js';
import type { AuthGate } from '../../src/auth/guess-throttle.js';
import { silentLogger } from '../helpers/server.js';

export const REALM = 'turn.test';
export const TURN_USERS: Readonly<Record<string, string>> = { alice: 'alice-pw', bob: 'bob-pw' };


/** An Authenticator over a static map (like `auth: {users}`), counting lookups. */
export function staticAuthenticator(users: Readonly<Record<string, string>> = TURN_USERS): Pick<Authenticator, 'passwordFor'> & { lookups: number } {
  const auth = {
    lookups: 0,
    async passwordFor(username: string) {
      auth.lookups++;
      return Object.hasOwn(users, username) ? { password: users[username]!, name: username } : null;
    },
  };
  return auth;
}

export interface BackendOptions {
  /** TURN over TCP on the UDP port. */
  tcp?: boolean;
  /** TURN over TLS on a free port with this certificate. */
  tls?: { cert: Buffer; key: Buffer };
  handshakeTimeoutMs?: number;
  peers?: PeerFilterConfig;
  unmended?: NodeTurnDefect[];
  maxLifetimeSec?: number;
  relayPorts?: [number, number];
  quotas?: { perUser: number; total: number };
  authenticator?: Pick<Authenticator, 'passwordFor'>;
  cache?: TurnCredentialCache;
  credentials?: TurnCredentialsOptions;
  nonce?: TurnBackendConfig['nonce'];
  logger?: Logger;
  relayed?: RelayedBytesSink;
  limits?: Partial<TurnLimits>;
  authGate?: AuthGate;
  events?: TurnEvents;
}

/** A TurnEvents sink that counts what it is told. */
export class CountingEvents implements TurnEvents {
  authFailures = 0;
  throttled: Record<'ip' | 'username', number> = { ip: 0, username: 0 };
  refusals: Partial<Record<TurnRefusal, number>> = {};

  authFailed(count = 1): void {
    this.authFailures += count;
  }

  authThrottled(scope: 'ip' | 'username', count = 1): void {
    this.throttled[scope] += count;
  }

  refused(reason: TurnRefusal, count = 1): void {
    this.refusals[reason] = (this.refusals[reason] ?? 0) + count;
  }

  refusedFor(reason: TurnRefusal): number {
    return this.refusals[reason] ?? 0;
  }
}

/** A started backend on 127.0.0.1:0; loopback peers allowed unless `peers` says otherwise. */
export async function startBackend(o: BackendOptions = {}): Promise<{ backend: NodeTurnBackend; server: TransportAddress; cache: TurnCredentialCache }> {
  const cache = o.cache ?? new TurnCredentialCache();
  const backend = new NodeTurnBackend({
    listenHost: '127.0.0.1',
    port: 0,
    realm: REALM,
    relayAddress: '127.0.0.1',
    relayBindHost: '127.0.0.1',
    relayPorts: o.relayPorts ?? [49152, 65535],
    maxLifetimeSec: o.maxLifetimeSec ?? 600,
    peerFilter: new PeerFilter(o.peers ?? { allowLoopbackPeers: true }),
    credentials: new TurnCredentials(cache, o.authenticator ?? staticAuthenticator(), o.credentials),
    quotas: o.quotas ?? { perUser: 32, total: 1000 },
    logger: o.logger ?? silentLogger,
    ...(o.tcp ? { tcp: true } : {}),
    ...(o.tls ? { tls: { port: 0, ...o.tls } } : {}),
    ...(o.handshakeTimeoutMs ? { handshakeTimeoutMs: o.handshakeTimeoutMs } : {}),
    ...(o.nonce ? { nonce: o.nonce } : {}),
    ...(o.relayed ? { relayed: o.relayed } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.authGate ? { authGate: o.authGate } : {}),
    ...(o.events ? { events: o.events } : {}),
    ...(o.unmended ? { unmended: new Set(o.unmended) } : {}),
  });
  const { port } = await backend.start();
  return { backend, server: { address: '127.0.0.1', port }, cache };
}

type Datagram = { data: Buffer; from: RemoteInfo };

/** Where a raw client sends and receives: a UDP socket, or one TCP/TLS stream (one frame = one "datagram"). */
export interface ClientEndpoint {
  readonly address: TransportAddress;
  send(data: Buffer, to: TransportAddress): void;
  next(match?: (d: Datagram) => boolean, timeoutMs?: number): Promise<Datagram>;
  silent(match?: (d: Datagram) => boolean, ms?: number): Promise<boolean>;
  close(): void;
}

/** A queue of received messages with bounded waits. */
class Inbox {
  private readonly items: Datagram[] = [];
  private waiters: { match: (d: Datagram) => boolean; resolve: (d: Datagram) => void }[] = [];

  push(d: Datagram): void {
    const i = this.waiters.findIndex((w) => w.match(d));
    if (i !== -1) this.waiters.splice(i, 1)[0]!.resolve(d);
    else this.items.push(d);
  }

  next(match: (d: Datagram) => boolean, timeoutMs: number): Promise<Datagram> {
    const i = this.items.findIndex(match);
    if (i !== -1) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (d: Datagram) => {
          clearTimeout(timer);
          resolve(d);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching datagram within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** True if nothing matching arrives within `ms` (next() rejects only when its wait runs out). */
  async silent(match: (d: Datagram) => boolean, ms: number): Promise<boolean> {
    try {
      await this.next(match, ms);
      return false;
    } catch {
      return true;
    }
  }
}

/**
 * A TCP or TLS stream to a TURN server, framed like the server frames it
 * (RFC 8656 section 12.5): each STUN message or ChannelData frame received
 * is one message in the queue. `closed` resolves when the server closes it.
 */
export class StreamEndpoint implements ClientEndpoint {
  private readonly inbox = new Inbox();
  readonly closed: Promise<void>;
  framingError: string | null = null;

  private constructor(readonly socket: TcpSocket) {
    const from = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, family: 'IPv4', size: 0 } as RemoteInfo;
    const framer = new StreamFramer({
      frame: (f) => this.inbox.push({ data: Buffer.from(f), from }),
      invalid: (reason) => {
        this.framingError = reason;
      },
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects to `server` over TCP, or TLS (any certificate: the tests' own), from `host`. */
  static async open(server: TransportAddress, kind: 'tcp' | 'tls' = 'tcp', host = '127.0.0.1'): Promise<StreamEndpoint> {
    const tcp = tcpConnect({ host: server.address, port: server.port, localAddress: host });
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', () => resolve());
      tcp.once('error', reject);
    });
    if (kind === 'tcp') return new StreamEndpoint(tcp);
    const tls = tlsConnect({ socket: tcp, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', () => resolve());
      tls.once('error', reject);
    });
    return new StreamEndpoint(tls);
  }

  get address(): TransportAddress {
    return { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 };
  }

  /** Writes `data` on the stream (`to` is the stream's own end). */
  send(data: Buffer, _to?: TransportAddress): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  next(match: (d: Datagram) => boolean = () => true, timeoutMs = 2000): Promise<Datagram> {
    return this.inbox.next(match, timeoutMs);
  }

  silent(match: (d: Datagram) => boolean = () => true, ms = 300): Promise<boolean> {
    return this.inbox.silent(match, ms);
  }

  /** True once the server closed the stream (within `ms`). */
  async closedWithin(ms = 2000): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A UDP socket with a queue of received datagrams. */
export class UdpEndpoint implements ClientEndpoint {
  private readonly inbox = new Inbox();

  private constructor(readonly socket: Socket) {
    socket.on('message', (data, from) => this.inbox.push({ data, from }));
  }

  /** A socket on `host` (any 127.x.y.z works on Linux loopback: another source IP). */
  static async open(host = '127.0.0.1'): Promise<UdpEndpoint> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
    return new UdpEndpoint(socket);
  }

  get address(): TransportAddress {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  send(data: Buffer, to: TransportAddress): void {
    this.socket.send(data, to.port, to.address);
  }

  /** The next datagram matching `match`, or rejects after `timeoutMs`. */
  next(match: (d: Datagram) => boolean = () => true, timeoutMs = 2000): Promise<Datagram> {
    return this.inbox.next(match, timeoutMs);
  }

  /** True if nothing matching arrives within `ms`. */
  silent(match: (d: Datagram) => boolean = () => true, ms = 300): Promise<boolean> {
    return this.inbox.silent(match, ms);
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // closed
    }
  }
}

export type Attrs = [number, Buffer][];
/** Attributes, or a function of the transaction id (XOR-PEER-ADDRESS of IPv6 depends on it). */
export type AttrsFor = Attrs | ((transactionId: Buffer) => Attrs);

export function errorCodeOf(m: StunMessage): number | null {
  const a = getAttribute(m, Attr.ERROR_CODE);
  return a ? decodeErrorCode(a.value)!.code : null;
}

export function lifetimeOf(m: StunMessage): number | undefined {
  return getAttribute(m, Attr.LIFETIME)?.value.readUInt32BE(0);
}

/** A raw STUN/TURN client speaking long-term credentials, one 5-tuple. */
export class RawTurnClient<E extends ClientEndpoint = UdpEndpoint> {
  realm: string | null = null;
  nonce: string | null = null;
  relay: TransportAddress | null = null;

  private constructor(
    /** Where it sends and receives (a UDP socket, or a stream: `openStream`). */
    readonly udp: E,
    readonly server: TransportAddress,
    readonly username: string,
    readonly password: string,
  ) {}

  static async open(server: TransportAddress, username = 'alice', password = TURN_USERS[username] ?? '', host = '127.0.0.1'): Promise<RawTurnClient<UdpEndpoint>> {
    return new RawTurnClient(await UdpEndpoint.open(host), server, username, password);
  }

  /** The same client over one TCP or TLS stream (RFC 8656 section 5): one 5-tuple, one allocation. */
  static async openStream(
    server: TransportAddress, kind: 'tcp' | 'tls', username = 'alice', password = TURN_USERS[username] ?? '', host = '127.0.0.1',
  ): Promise<RawTurnClient<StreamEndpoint>> {
    return new RawTurnClient(await StreamEndpoint.open(server, kind, host), server, username, password);
  }

  get key(): Buffer {
    return longTermKey(this.username, this.realm ?? REALM, this.password);
  }

  /** Sends one request and waits for the response with its transaction id. */
  async request(method: number, attrs: AttrsFor, options: { auth?: boolean; fingerprint?: boolean; transactionId?: Buffer } = {}): Promise<StunMessage> {
    const id = options.transactionId ?? newTransactionId();
    const all: Attrs = typeof attrs === 'function' ? attrs(id) : [...attrs];
    if (options.auth && this.nonce) {
      all.push([Attr.USERNAME, Buffer.from(this.username)], [Attr.REALM, Buffer.from(this.realm!)], [Attr.NONCE, Buffer.from(this.nonce)]);
    }
    const out = encodeStun(method, StunClass.REQUEST, id, all, {
      ...(options.auth && this.nonce ? { integrityKey: this.key } : {}),
      fingerprint: options.fingerprint ?? true,
    });
    this.udp.send(out, this.server);
    const { data } = await this.udp.next((d) => {
      const m = decodeStun(d.data);
      return m !== null && m.transactionId.equals(id);
    });
    return decodeStun(data)!;
  }

  /**
   * A request with long-term credentials: without a nonce yet, asks once to
   * learn REALM/NONCE from the 401; after a 438, retries once with the new nonce.
   */
  async authed(method: number, attrs: AttrsFor, transactionId?: Buffer): Promise<StunMessage> {
    if (!this.nonce) {
      const first = await this.request(method, attrs);
      this.learn(first);
      if (errorCodeOf(first) !== 401 || !this.nonce) return first;
    }
    let response = await this.request(method, attrs, { auth: true, ...(transactionId ? { transactionId } : {}) });
    if (errorCodeOf(response) === 438) {
      this.learn(response);
      response = await this.request(method, attrs, { auth: true });
    }
    return response;
  }

  learn(r: StunMessage): void {
    const nonce = getAttribute(r, Attr.NONCE);
    const realm = getAttribute(r, Attr.REALM);
    if (nonce) this.nonce = nonce.value.toString();
    if (realm) this.realm = realm.value.toString();
  }

  integrityValid(m: StunMessage): boolean {
    return checkIntegrity(m, this.key) === 'valid';
  }

  async allocate(extra: Attrs = [], transactionId?: Buffer): Promise<StunMessage> {
    const response = await this.authed(StunMethod.ALLOCATE, [[Attr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], ...extra], transactionId);
    const relay = getAttribute(response, Attr.XOR_RELAYED_ADDRESS);
    if (relay) this.relay = decodeXorAddress(relay.value, response.transactionId);
    return response;
  }

  refresh(lifetime?: number): Promise<StunMessage> {
    return this.authed(StunMethod.REFRESH, lifetime === undefined ? [] : [[Attr.LIFETIME, u32(lifetime)]]);
  }

  createPermission(...peers: TransportAddress[]): Promise<StunMessage> {
    return this.authed(StunMethod.CREATE_PERMISSION, (tid) => peers.map((p): [number, Buffer] => [Attr.XOR_PEER_ADDRESS, encodeXorAddress(p, tid)]));
  }

  channelBind(channel: number, peer: TransportAddress): Promise<StunMessage> {
    return this.authed(StunMethod.CHANNEL_BIND, (tid) => [[Attr.CHANNEL_NUMBER, u32(channel << 16)], [Attr.XOR_PEER_ADDRESS, encodeXorAddress(peer, tid)]]);
  }

  /** Send indication to `peer`. */
  sendIndication(peer: TransportAddress, data: Buffer): void {
    const id = newTransactionId();
    this.udp.send(encodeStun(StunMethod.SEND, StunClass.INDICATION, id, [
      [Attr.XOR_PEER_ADDRESS, encodeXorAddress(peer, id)],
      [Attr.DATA, data],
    ]), this.server);
  }

  sendChannelData(channel: number, data: Buffer): void {
    this.udp.send(encodeChannelData(channel, data), this.server);
  }

  /** The next Data indication: its peer and data. */
  async nextDataIndication(timeoutMs = 2000): Promise<{ peer: TransportAddress; data: Buffer }> {
    const { data } = await this.udp.next((d) => {
      const m = decodeStun(d.data);
      return m !== null && m.method === StunMethod.DATA && m.cls === StunClass.INDICATION;
    }, timeoutMs);
    const m = decodeStun(data)!;
    return {
      peer: decodeXorAddress(getAttribute(m, Attr.XOR_PEER_ADDRESS)!.value, m.transactionId)!,
      data: Buffer.from(getAttribute(m, Attr.DATA)!.value),
    };
  }

  async nextChannelData(timeoutMs = 2000): Promise<{ channel: number; data: Buffer }> {
    const { data } = await this.udp.next((d) => decodeChannelData(d.data) !== null, timeoutMs);
    const frame = decodeChannelData(data)!;
    return { channel: frame.channel, data: Buffer.from(frame.data) };
  }

  close(): void {
    this.udp.close();
  }
}

