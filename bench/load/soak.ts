/**
 * The soak's side of a load-generator process (bench/suites/soak.ts drives
 * it): one process plays the honest clients, another the abusers, each from
 * source addresses of its own (the server's limits are per source IP).
 *
 * Honest (127.0.0.10–.19 for WebSockets, .20–.23 for TURN, echo peer on .30):
 *  - rooms of 2–6 that live one generation each, their seats taken again by
 *    new connections as members leave: connect, authenticate, join; the
 *    newcomer offers to every member and trickles candidates, the others
 *    answer and trickle back; then broadcast and unicast at a per-member rate
 *    (≤ 40/s), a ping every 20 s, and leave (close 1000);
 *  - TURN sessions: Allocate with long-term credentials, CreatePermission,
 *    ChannelBind to the UDP echo peer, ChannelData both ways (and a Send
 *    indication now and then), Refresh, then Refresh 0 (or vanish and let
 *    the allocation expire).
 *  Anything a limit does to them is an error: a close by the server, a
 *  refused upgrade, `unauthorized`, an `invalid_message` other than the
 *  `unknown_peer` race of a peer that just left, a TURN error or timeout.
 *
 * Abusers (127.0.0.50–.59), one of each at a time, each counting what it got:
 *  a member that stops reading while two others push at it (evicted, 1008),
 *  a client over the rate limit (1008 after abuseSeconds), wrong passwords
 *  (`unauthorized`, 1008 at maxAuthAttempts), frames over maxMessageBytes
 *  (1009), idle TCP connections that never upgrade (408 at
 *  handshakeTimeout), `to` fields with huge strings, and over UDP: Allocates
 *  with made-up usernames and with wrong passwords, and minimal
 *  unauthenticated or malformed requests.
 *
 * Every loop is bounded: it stops at `soak-stop` or by itself after
 * `stopAfterMs`, and every wait has a deadline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { WebSocket } from 'ws';
import type { SoakLoad } from '../lib/config.js';
import { Histogram, nowUs } from '../lib/hist.js';
import { BENCH_PASSWORD, CANDIDATE_FIELDS, readStamp, SDP, SOAK_UNKNOWN_USER_PREFIX } from '../lib/protocols.js';
import type { Stamp } from '../lib/protocols.js';
import type { SoakRole, SoakServerRef, SoakStartRequest, SoakWorkerStats } from './messages.js';
import { ATTR, CLASS, decode, encode, errorCode, METHOD, readXorAddress, u32, xorAddress } from '../lib/stun.js';
import type { StunReply } from '../lib/stun.js';
import { authed } from './turn-client.js';
import type { Credentials, StunEndpoint } from './turn-client.js';

const addresses = (first: number, count: number) => Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
/** Source addresses: honest and abusive load never share one. */
export const SOAK_ADDRESSES = {
  honestWs: addresses(10, 10),
  honestTurn: addresses(20, 4),
  echoPeer: '127.0.0.30',
  slowTarget: '127.0.0.50',
  slowSenders: '127.0.0.51',
  flood: '127.0.0.52',
  wrongPassword: '127.0.0.53',
  oversized: '127.0.0.54',
  idleTcp: '127.0.0.55',
  hugeTo: '127.0.0.56',
  turnMadeUp: '127.0.0.57',
  turnWrongPassword: '127.0.0.58',
  turnMinimal: '127.0.0.59',
} as const;

/** Honest TURN users (the soak target accepts every name but made-up ones). */
const TURN_USERS = 50;
/** The server's default maxMessageBytes is 65 536: this is over it. */
const OVERSIZED_BYTES = 70_000;
const HUGE_TO_CHARS = 60_000;
const PING_EVERY_MS = 20_000;
const HONEST_CONNECT_TIMEOUT_MS = 10_000;
const TURN_TIMEOUT_MS = 5_000;
/** A sender skips a message while more than this is queued on its socket. */
const MAX_BUFFERED = 1 << 20;
const FIRST_ERRORS = 12;

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const randInt = (lo: number, hi: number) => Math.floor(rand(lo, hi + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** A WebSocket client whose frames are parsed (honest and abusive signaling clients alike). */
interface Peer {
  ws: WebSocket;
  peerId: string | null;
  /** Set once we close it ourselves: what follows is not held against the server. */
  leaving: boolean;
}

interface HonestMember extends Peer {
  peers: Set<string>;
  seq: number;
  /** Counted once: an error and the close that follows are one failure. */
  failed: boolean;
  timers: NodeJS.Timeout[];
}

interface HonestTurn extends StunEndpoint {
  channel: number;
  /** ChannelData flows while set. */
  active: boolean;
  closing: boolean;
  ticks: number;
  template: Buffer;
}

class SoakRun {
  running = true;
  readonly counts: Record<string, number> = {};
  readonly errorKinds: Record<string, number> = {};
  readonly firstErrors: string[] = [];
  errors = 0;
  readonly durations: Record<string, { n: number; sumS: number; maxS: number }> = {};
  readonly latency = new Histogram();
  readonly turnRtt = new Histogram();
  /** Every socket this run opened and has not closed: terminated at the stop. */
  private readonly open = new Set<{ kill(): void; kind: string }>();
  private readonly sleepers = new Map<() => void, NodeJS.Timeout>();
  private readonly loops: Promise<void>[] = [];
  private readonly members = new Set<HonestMember>();
  private readonly turnSessions = new Set<HonestTurn>();
  private echo: UdpSocket | null = null;
  private echoPort = 0;
  private dataTicker: NodeJS.Timeout | null = null;
  private readonly selfStop: NodeJS.Timeout;
  private next = 0;
  private readonly stamp: Stamp = { sentUs: 0, seq: 0, sender: 0 };
  private stopping: Promise<void> | null = null;
  private markStopped: () => void = () => {};
  /** Resolves when the run stops. */
  private readonly stopped = new Promise<'stopped'>((resolve) => (this.markStopped = () => resolve('stopped')));

  constructor(
    readonly role: SoakRole,
    private readonly server: SoakServerRef,
    private readonly load: SoakLoad,
    private readonly runId: string,
    stopAfterMs: number,
  ) {
    this.selfStop = setTimeout(() => void this.stop(), stopAfterMs);
  }

  // ------------------------------------------------------------ bookkeeping

  count(name: string, n = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + n;
  }

  /** Something a limit (or a bug) did to an honest client. */
  error(kind: string, detail: string): void {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
    if (this.firstErrors.length < FIRST_ERRORS) this.firstErrors.push(`${new Date().toISOString()} ${kind}: ${detail}`);
  }

  took(kind: string, ms: number): void {
    const d = (this.durations[kind] ??= { n: 0, sumS: 0, maxS: 0 });
    const s = ms / 1000;
    d.n++;
    d.sumS += s;
    if (s > d.maxS) d.maxS = s;
  }

  /** Resolves after `ms`, or at once when the run stops. */
  sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.sleepers.set(done, timer);
    });
  }

  private track<T extends { kill(): void; kind: string }>(item: T): T {
    this.open.add(item);
    return item;
  }

  private untrack(item: { kill(): void; kind: string }): void {
    this.open.delete(item);
  }

  stats(): SoakWorkerStats {
    const live: Record<string, number> = {};
    for (const item of this.open) live[item.kind] = (live[item.kind] ?? 0) + 1;
    if (this.role === 'honest') {
      live.members = [...this.members].filter((m) => m.peerId !== null).length;
      live.turnSessions = [...this.turnSessions].filter((s) => s.active).length;
    }
    return {
      role: this.role,
      counts: { ...this.counts },
      live,
      errors: this.errors,
      errorKinds: { ...this.errorKinds },
      firstErrors: [...this.firstErrors],
      durations: structuredClone(this.durations),
      latency: { hist: this.latency.toSparse(), maxUs: this.latency.maxUs },
      turnRtt: { hist: this.turnRtt.toSparse(), maxUs: this.turnRtt.maxUs },
    };
  }

  private url(room: string): string {
    return `ws://${this.server.host}:${this.server.port}/websocket/${encodeURIComponent(room)}`;
  }

  private spawn(loop: () => Promise<void>): void {
    this.loops.push(
      loop().catch((err: unknown) => {
        // A loop that throws is a bug of the generator, not of the server: counted apart.
        this.count('generator.loopFailed');
        if (this.firstErrors.length < FIRST_ERRORS) this.firstErrors.push(`generator loop failed: ${String(err)}`);
      }),
    );
  }

  // ------------------------------------------------------------ start / stop

  async start(): Promise<void> {
    const load = this.load;
    if (this.role === 'honest') {
      await this.startEcho();
      for (let i = 0; i < load.steadyRooms; i++) this.spawn(() => this.steadySlot(i));
      for (let i = 0; i < load.briefRooms; i++) this.spawn(() => this.briefSlot(i));
      for (let i = 0; i < load.turnSessions; i++) this.spawn(() => this.turnSeat(i));
      if (load.turnSessions > 0) this.dataTicker = setInterval(() => this.turnTick(), Math.max(5, Math.round(1000 / load.turnPps)));
    } else {
      this.spawn(() => this.slowConsumerLoop());
      this.spawn(() => this.floodLoop());
      this.spawn(() => this.wrongPasswordLoop());
      this.spawn(() => this.oversizedLoop());
      for (let i = 0; i < load.idleTcp; i++) this.spawn(() => this.idleTcpLoop(i));
      this.spawn(() => this.hugeToLoop());
      this.spawn(() => this.turnAbuseLoop('turnMadeUp', SOAK_ADDRESSES.turnMadeUp, load.turnMadeUpPerS));
      this.spawn(() => this.turnAbuseLoop('turnWrongPassword', SOAK_ADDRESSES.turnWrongPassword, load.turnWrongPasswordPerS));
      this.spawn(() => this.turnMinimalLoop());
    }
  }

  /** Stops every loop; honest members leave and honest allocations are deallocated; everything else is cut. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.running = false;
      this.markStopped();
      clearTimeout(this.selfStop);
      for (const wake of [...this.sleepers.keys()]) wake();
      for (const m of this.members) this.leave(m);
      // Loops finish their step (honest TURN sessions send Refresh 0); bounded.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(this.loops), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
      clearTimeout(timer);
      if (this.dataTicker) clearInterval(this.dataTicker);
      this.dataTicker = null;
      for (const item of [...this.open]) item.kill();
      this.open.clear();
      for (const s of this.turnSessions) closeUdp(s.socket);
      this.echo?.close();
      this.echo = null;
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------ honest: rooms

  /**
   * A long-call slot: `size` seats, each taken again by a new connection as
   * soon as its member left; newcomers go to the slot's current room, a new
   * one every `steadyRoomS` (the previous room empties as its members leave).
   */
  private async steadySlot(slot: number): Promise<void> {
    const load = this.load;
    const size = load.roomSize[0] + (slot % (load.roomSize[1] - load.roomSize[0] + 1));
    const current = { gen: 0, until: Date.now() + rand(load.steadyRoomS[0], load.steadyRoomS[1]) * 1000, counted: -1 };
    const room = () => {
      if (Date.now() >= current.until) {
        current.gen++;
        current.until = Date.now() + rand(load.steadyRoomS[0], load.steadyRoomS[1]) * 1000;
      }
      if (current.counted !== current.gen) {
        current.counted = current.gen;
        this.count('honest.steadyRooms');
      }
      return `soak-${this.runId}-s${slot}-${current.gen}`;
    };
    await Promise.all(
      Array.from({ length: size }, async (_, seat) => {
        await this.sleep(seat * rand(100, 1500) + slot * 300);
        while (this.running) {
          await this.member(room(), rand(load.steadyLifetimeS[0], load.steadyLifetimeS[1]) * 1000);
          await this.sleep(rand(200, 1500));
        }
      }),
    );
  }

  /** A short-call slot: a room of 2-3 whose members come, talk briefly and all go; then the next room. */
  private async briefSlot(slot: number): Promise<void> {
    const load = this.load;
    for (let gen = 0; this.running; gen++) {
      const room = `soak-${this.runId}-b${slot}-${gen}`;
      const size = randInt(load.roomSize[0], Math.min(load.roomSize[0] + 1, load.roomSize[1]));
      this.count('honest.briefRooms');
      await Promise.all(
        Array.from({ length: size }, async (_, seat) => {
          await this.sleep(seat * rand(100, 1000));
          await this.member(room, rand(load.briefLifetimeS[0], load.briefLifetimeS[1]) * 1000);
        }),
      );
      await this.sleep(rand(200, 1000));
    }
  }

  /** One honest member, from connect to leave. Never rejects. */
  private member(room: string, lifetimeMs: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    const local = SOAK_ADDRESSES.honestWs[this.next++ % SOAK_ADDRESSES.honestWs.length]!;
    const username = `h${randInt(0, this.load.usernames - 1)}`;
    const rate = pick(this.load.memberRates);
    this.count('honest.connects');
    const ws = new WebSocket(this.url(room), { perMessageDeflate: false, localAddress: local, handshakeTimeout: HONEST_CONNECT_TIMEOUT_MS });
    const m: HonestMember = { ws, peerId: null, leaving: false, peers: new Set(), seq: 0, failed: false, timers: [] };
    this.members.add(m);
    /** Once per member; after we started leaving only a close by a limit still counts. */
    const fail = (kind: string, detail: string, byLimit = false) => {
      if (m.failed || (m.leaving && !byLimit)) return;
      m.failed = true;
      this.error(kind, `${detail} (room ${room}, from ${local}, peer ${m.peerId ?? 'none'})`);
    };
    return new Promise<void>((resolve) => {
      const authTimer = setTimeout(() => {
        if (!this.running) return;
        fail('no-authenticated', `no "authenticated" within ${HONEST_CONNECT_TIMEOUT_MS} ms`);
        m.leaving = true;
        ws.terminate();
      }, HONEST_CONNECT_TIMEOUT_MS);
      m.timers.push(authTimer);
      ws.once('open', () => {
        ws.send(JSON.stringify({ event: 'authenticate', data: { username, password: BENCH_PASSWORD } }));
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return fail('binary-frame', 'the server sent a binary frame');
        const text = data.toString();
        if (text === 'pong') return;
        let msg: { event?: string; from?: string; data?: { peer_id?: string; reason?: string; peers?: { peer_id: string }[] } };
        try {
          msg = JSON.parse(text) as typeof msg;
        } catch {
          return fail('bad-frame', `not JSON: ${text.slice(0, 80)}`);
        }
        if (msg.from !== undefined) {
          this.count('honest.delivered');
          if (readStamp(data, this.stamp)) this.latency.record(nowUs() - this.stamp.sentUs);
          if (msg.event === 'offer') this.iceBurst(m, msg.from, 'answer');
          return;
        }
        switch (msg.event) {
          case 'authenticated': {
            clearTimeout(authTimer);
            m.peerId = msg.data?.peer_id ?? null;
            this.count('honest.joined');
            for (const p of msg.data?.peers ?? []) {
              m.peers.add(p.peer_id);
              this.iceBurst(m, p.peer_id, 'offer');
            }
            if (rate > 0) {
              const every = 1000 / rate;
              m.timers.push(setTimeout(() => m.timers.push(setInterval(() => this.chat(m), every)), rand(0, every)));
            }
            m.timers.push(setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), PING_EVERY_MS));
            m.timers.push(setTimeout(() => this.leave(m), lifetimeMs));
            return;
          }
          case 'joined':
            if (msg.data?.peer_id) m.peers.add(msg.data.peer_id);
            return;
          case 'left':
            if (msg.data?.peer_id) m.peers.delete(msg.data.peer_id);
            return;
          case 'invalid_message':
            // A unicast to a peer whose `left` is still on its way: the protocol's answer, not a limit.
            if (msg.data?.reason === 'unknown_peer') this.count('honest.unknownPeerRace');
            else fail(`invalid_message-${msg.data?.reason ?? '?'}`, text.slice(0, 120));
            return;
          case 'unauthorized':
            return fail('unauthorized', `"${username}" refused`);
          default:
            return fail('unexpected-event', text.slice(0, 120));
        }
      });
      ws.on('error', (err: Error) => fail('socket-error', err.message));
      ws.once('close', (code: number, reason: Buffer) => {
        if (code === 1006 && m.leaving) {
          if (this.running) this.count('honest.closeHandshakeTimeouts'); // cut by us 3 s after our close frame
        }
        else fail(`closed-${code}`, `closed by the server with ${code} ${reason.toString()}`, code === 1008 || code === 1009 || code === 1011);
        for (const t of m.timers) clearTimeout(t);
        this.members.delete(m);
        resolve();
      });
    });
  }

  /** An offer (or answer) to `to`, then its candidates, as a browser trickles them. */
  private iceBurst(m: HonestMember, to: string, kind: 'offer' | 'answer'): void {
    if (m.ws.readyState !== WebSocket.OPEN) return;
    this.count(kind === 'offer' ? 'honest.offers' : 'honest.answers');
    m.ws.send(`{"z":"${nowUs()}:${m.seq++}:0","event":"${kind}","sdp":${SDP},"to":"${to}"}`);
    for (let i = 0; i < this.load.candidatesPerPeer; i++) m.ws.send(`{${candidate(m)},"to":"${to}"}`);
    this.count('honest.sent', 1 + this.load.candidatesPerPeer);
  }

  /** One chat message: broadcast or to one known peer. */
  private chat(m: HonestMember): void {
    if (m.ws.readyState !== WebSocket.OPEN || m.peers.size === 0) return;
    if (m.ws.bufferedAmount > MAX_BUFFERED) {
      this.count('honest.skipped');
      return;
    }
    if (Math.random() < 0.5) {
      m.ws.send(`{${candidate(m)}}`);
      this.count('honest.broadcasts');
    } else {
      m.ws.send(`{${candidate(m)},"to":"${pick([...m.peers])}"}`);
      this.count('honest.unicasts');
    }
    this.count('honest.sent');
  }

  private leave(m: HonestMember): void {
    if (m.leaving) return;
    m.leaving = true;
    for (const t of m.timers) clearTimeout(t);
    if (m.ws.readyState === WebSocket.CONNECTING) {
      m.ws.terminate();
      return;
    }
    this.count('honest.left');
    m.ws.close(1000);
    m.timers.push(setTimeout(() => m.ws.terminate(), 3_000));
  }

  // ------------------------------------------------------------ honest: TURN

  private async startEcho(): Promise<void> {
    const echo = createSocket('udp4');
    echo.on('message', (data, rinfo) => {
      this.count('turn.echoed');
      echo.send(data, rinfo.port, rinfo.address);
    });
    echo.on('error', () => {});
    await new Promise<void>((resolve) => echo.bind(0, SOAK_ADDRESSES.echoPeer, () => resolve()));
    this.echo = echo;
    this.echoPort = echo.address().port;
  }

  private async turnSeat(index: number): Promise<void> {
    await this.sleep(index * rand(200, 1000));
    while (this.running) {
      await this.turnSession(index, rand(this.load.turnLifetimeS[0], this.load.turnLifetimeS[1]) * 1000, Math.random() < this.load.turnVanishShare);
      await this.sleep(rand(200, 1500));
    }
  }

  /** One honest TURN session, from Allocate to deallocation (or vanishing). Never rejects. */
  private async turnSession(index: number, lifetimeMs: number, vanish: boolean): Promise<void> {
    const load = this.load;
    const socket = createSocket('udp4');
    const s: HonestTurn = {
      socket,
      pending: new Map(),
      channel: 0x4000 + (this.next++ % 0x3fff),
      active: false,
      closing: false,
      ticks: 0,
      template: Buffer.alloc(4 + load.turnPayloadBytes, 0x5a),
    };
    s.template.writeUInt16BE(s.channel, 0);
    s.template.writeUInt16BE(load.turnPayloadBytes, 2);
    this.turnSessions.add(s);
    socket.on('message', (buf: Buffer) => this.honestDatagram(s, buf));
    socket.on('error', (err) => {
      if (!s.closing) this.error('turn-socket-error', err.message);
    });
    const creds: Credentials = { user: `t${randInt(0, TURN_USERS - 1)}`, password: BENCH_PASSWORD, key: null, realm: null, nonce: null };
    const peer = xorAddress(SOAK_ADDRESSES.echoPeer, this.echoPort);
    const lifetime = u32(load.turnAllocationLifetimeS);
    let step = 'bind';
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, SOAK_ADDRESSES.honestTurn[index % SOAK_ADDRESSES.honestTurn.length], () => {
          socket.off('error', reject);
          socket.connect(this.server.turnPort, this.server.host, () => resolve());
        });
      });
      step = 'Allocate';
      const allocated = await authed(s, METHOD.ALLOCATE, [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [ATTR.LIFETIME, lifetime]], creds, deadline());
      this.count('turn.allocations');
      if (!readXorAddress(allocated.attrs.get(ATTR.XOR_RELAYED_ADDRESS))) throw new Error('no XOR-RELAYED-ADDRESS');
      step = 'CreatePermission';
      await authed(s, METHOD.CREATE_PERMISSION, [[ATTR.XOR_PEER_ADDRESS, peer]], creds, deadline());
      this.count('turn.permissions');
      step = 'ChannelBind';
      const channel = Buffer.alloc(4);
      channel.writeUInt16BE(s.channel, 0);
      await authed(s, METHOD.CHANNEL_BIND, [[ATTR.CHANNEL_NUMBER, channel], [ATTR.XOR_PEER_ADDRESS, peer]], creds, deadline());
      this.count('turn.channelBinds');
      s.active = true;
      const end = Date.now() + lifetimeMs;
      const refreshEvery = (load.turnAllocationLifetimeS * 1000) / 3;
      while (this.running && Date.now() < end) {
        await this.sleep(Math.min(refreshEvery, end - Date.now()));
        if (!this.running || Date.now() >= end) break;
        step = 'Refresh';
        await authed(s, METHOD.REFRESH, [[ATTR.LIFETIME, lifetime]], creds, deadline());
        this.count('turn.refreshes');
      }
      s.active = false;
      if (vanish && this.running) {
        this.count('turn.vanished'); // the server expires it after its LIFETIME
      } else {
        step = 'Refresh 0';
        await authed(s, METHOD.REFRESH, [[ATTR.LIFETIME, u32(0)]], creds, deadline());
        this.count('turn.deallocations');
      }
    } catch (err) {
      if (!s.closing) this.error('turn-error', `${step} for ${creds.user}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      s.active = false;
      s.closing = true;
      for (const settle of s.pending.values()) settle({ type: 0, attrs: new Map() });
      closeUdp(socket);
      this.turnSessions.delete(s);
    }
  }

  /** Every active session sends one ChannelData (every 50th tick a Send indication instead). */
  private turnTick(): void {
    for (const s of this.turnSessions) {
      if (!s.active) continue;
      const packet = Buffer.from(s.template);
      packet.writeDoubleLE(nowUs(), 4);
      if (++s.ticks % 50 === 0) {
        const tid = randomBytes(12);
        const body = packet.subarray(4);
        s.socket.send(encode(METHOD.SEND | CLASS.INDICATION, tid, [[ATTR.XOR_PEER_ADDRESS, xorAddress(SOAK_ADDRESSES.echoPeer, this.echoPort)], [ATTR.DATA, body]], null));
        this.count('turn.sendIndications');
      } else {
        s.socket.send(packet);
        this.count('turn.sent');
      }
    }
  }

  private honestDatagram(s: HonestTurn, buf: Buffer): void {
    const first = buf[0] ?? 0;
    if (first >= 0x40 && first <= 0x7f) {
      if (buf.length < 12 || buf.readUInt16BE(0) !== s.channel) return;
      this.count('turn.received');
      this.turnRtt.record(nowUs() - buf.readDoubleLE(4));
      return;
    }
    const reply = decode(buf);
    if (!reply) return;
    if (reply.type === (METHOD.DATA | CLASS.INDICATION)) {
      this.count('turn.dataIndications');
      return;
    }
    s.pending.get(reply.tid)?.(reply);
  }

  // ------------------------------------------------------------ abuse: signaling

  /** An abuser with valid credentials, authenticated in `room`; null when that failed (counted). */
  private async abuser(kind: string, room: string, local: string, onFrame?: (text: string) => void): Promise<(Peer & { closed: Promise<number> }) | null> {
    const ws = new WebSocket(this.url(room), { perMessageDeflate: false, localAddress: local, handshakeTimeout: 10_000 });
    const item = this.track({ kind, kill: () => ws.terminate() });
    const closed = new Promise<number>((resolve) =>
      ws.once('close', (code: number) => {
        this.untrack(item);
        resolve(code);
      }),
    );
    ws.on('error', () => {});
    const peerId = await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 10_000);
      ws.once('open', () => ws.send(JSON.stringify({ event: 'authenticate', data: { username: `abuser-${kind}`, password: BENCH_PASSWORD } })));
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text.startsWith('{"event":"authenticated"')) {
          clearTimeout(timer);
          resolve((JSON.parse(text) as { data: { peer_id: string } }).data.peer_id);
        }
        onFrame?.(text);
      });
      void closed.then(() => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    if (peerId === null) {
      this.count(`${kind}.joinFailed`);
      ws.terminate();
      return null;
    }
    return { ws, peerId, leaving: false, closed };
  }

  /** Resolves with the close code, or null after `ms` (the socket is then cut). */
  private async closedWithin(peer: { ws: WebSocket; closed: Promise<number> }, ms: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([peer.closed, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]);
    clearTimeout(timer);
    if (code === null) peer.ws.terminate();
    return code;
  }

  /**
   * A member stops reading (its socket paused) while two others push at it:
   * the server must evict it (it leaves the room, `left` to the others, close
   * 1008) rather than buffer without end.
   */
  private async slowConsumerLoop(): Promise<void> {
    const frameBytes = Math.max(1024, Math.round(this.load.slowPushBytesPerS / 10));
    const blob = 'x'.repeat(frameBytes);
    for (let n = 0; this.running; n++) {
      const room = `abuse-${this.runId}-slow-${n}`;
      const target = await this.abuser('slowTarget', room, SOAK_ADDRESSES.slowTarget);
      if (!target) {
        await this.sleep(2_000);
        continue;
      }
      const socket = (target.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      let evicted: () => void = () => {};
      const gone = new Promise<void>((resolve) => (evicted = resolve));
      const leftMark = `"peer_id":"${target.peerId}"`;
      const onFrame = (text: string) => {
        if (text.startsWith('{"event":"left"') && text.includes(leftMark)) evicted();
      };
      const senders = [await this.abuser('slowSender', room, SOAK_ADDRESSES.slowSenders, onFrame), await this.abuser('slowSender', room, SOAK_ADDRESSES.slowSenders, onFrame)];
      this.count('slow.episodes');
      const t0 = performance.now();
      const frame = `{"event":"blob","to":"${target.peerId}","b":"${blob}"}`;
      const pusher = setInterval(() => {
        for (const s of senders) {
          if (s && s.ws.readyState === WebSocket.OPEN && s.ws.bufferedAmount < MAX_BUFFERED) s.ws.send(frame);
        }
      }, 100);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([gone.then(() => 'evicted' as const), new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 120_000))), this.stopped]);
      clearTimeout(timer);
      clearInterval(pusher);
      if (outcome === 'evicted') {
        this.took('slowConsumerEvicted', performance.now() - t0);
        this.count('slow.evicted');
        socket.resume(); // read the backlog, then the close frame
        const code = await this.closedWithin(target, 20_000);
        this.count(`slow.closed.${code ?? 'none'}`);
      } else {
        if (outcome === 'timeout') this.count('slow.notEvicted');
        target.ws.terminate();
      }
      for (const s of senders) s?.ws.close(1000);
      await this.sleep(1_000);
      for (const s of senders) s?.ws.terminate();
    }
  }

  /** A member over the rate limit, sending as fast as its socket drains: reading pauses, then close 1008 after abuseSeconds. */
  private async floodLoop(): Promise<void> {
    const perTick = Math.max(1, Math.round(this.load.floodPerSecond / 100));
    for (let n = 0; this.running; n++) {
      const a = await this.abuser('flood', `abuse-${this.runId}-flood-${n}`, SOAK_ADDRESSES.flood);
      if (!a) {
        await this.sleep(2_000);
        continue;
      }
      this.count('flood.episodes');
      const t0 = performance.now();
      const ticker = setInterval(() => {
        for (let i = 0; i < perTick && a.ws.readyState === WebSocket.OPEN && a.ws.bufferedAmount < 64 * 1024; i++) {
          a.ws.send('{"event":"flood"}');
          this.count('flood.frames');
        }
      }, 10);
      const code = await Promise.race([this.closedWithin(a, 60_000), this.stopped]);
      clearInterval(ticker);
      if (code === 'stopped') break;
      if (code === 1008) this.took('rateLimitClosed', performance.now() - t0);
      this.count(`flood.closed.${code ?? 'none'}`);
      await this.sleep(2_000);
    }
  }

  /** Wrong passwords over signaling, for honest usernames and made-up ones: `unauthorized` each, 1008 at the last attempt. */
  private async wrongPasswordLoop(): Promise<void> {
    for (let n = 0; this.running; n++) {
      const ws = new WebSocket(this.url(`abuse-${this.runId}-pw`), { perMessageDeflate: false, localAddress: SOAK_ADDRESSES.wrongPassword, handshakeTimeout: 10_000 });
      const item = this.track({ kind: 'wrongPassword', kill: () => ws.terminate() });
      const frames: string[] = [];
      let wake: () => void = () => {};
      ws.on('message', (data: Buffer) => {
        frames.push(data.toString());
        wake();
      });
      ws.on('error', () => {});
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      void closed.then(() => wake());
      const opened = await Promise.race([new Promise<boolean>((r) => ws.once('open', () => r(true))), closed.then(() => false)]);
      this.count('pw.connections');
      for (let attempt = 0; opened && this.running && ws.readyState === WebSocket.OPEN && attempt < 10; attempt++) {
        const username = Math.random() < 0.5 ? `h${randInt(0, this.load.usernames - 1)}` : `${SOAK_UNKNOWN_USER_PREFIX}${randomBytes(4).toString('hex')}`;
        ws.send(JSON.stringify({ event: 'authenticate', data: { username, password: `wrong-${randomBytes(3).toString('hex')}` } }));
        this.count('pw.attempts');
        const answered = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 5_000);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
          if (frames.length > 0) wake();
        });
        const frame = frames.shift();
        if (!answered || frame === undefined) break;
        if (frame.startsWith('{"event":"unauthorized"')) this.count('pw.unauthorized');
        else if (frame.startsWith('{"event":"authenticated"')) this.count('pw.AUTHENTICATED');
        else this.count('pw.otherAnswer');
        await this.sleep(this.load.wrongPasswordEveryMs);
      }
      if (this.running) {
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([closed, new Promise<null>((r) => (timer = setTimeout(() => r(null), 5_000)))]);
        clearTimeout(timer);
        this.count(`pw.closed.${code ?? 'none'}`);
      }
      ws.terminate();
      this.untrack(item);
    }
  }

  /** A frame over maxMessageBytes, before or after authenticating: close 1009. */
  private async oversizedLoop(): Promise<void> {
    const big = `{"event":"big","b":"${'y'.repeat(OVERSIZED_BYTES)}"}`;
    for (let n = 0; this.running; n++) {
      await this.sleep(this.load.oversizedEveryMs);
      if (!this.running) break;
      const authenticate = n % 2 === 0;
      let peer: { ws: WebSocket; closed: Promise<number> } | null;
      if (authenticate) {
        peer = await this.abuser('oversized', `abuse-${this.runId}-big-${n}`, SOAK_ADDRESSES.oversized);
      } else {
        const ws = new WebSocket(this.url(`abuse-${this.runId}-big-${n}`), { perMessageDeflate: false, localAddress: SOAK_ADDRESSES.oversized, handshakeTimeout: 10_000 });
        const item = this.track({ kind: 'oversized', kill: () => ws.terminate() });
        ws.on('error', () => {});
        const closed = new Promise<number>((resolve) =>
          ws.once('close', (code: number) => {
            this.untrack(item);
            resolve(code);
          }),
        );
        const opened = await Promise.race([new Promise<boolean>((r) => ws.once('open', () => r(true))), closed.then(() => false)]);
        peer = opened ? { ws, closed } : null;
      }
      if (!peer) continue;
      peer.ws.send(big);
      this.count(`oversized.${authenticate ? 'inRoom' : 'beforeAuth'}`);
      const code = await this.closedWithin(peer, 10_000);
      this.count(`oversized.closed.${code ?? 'none'}`);
    }
  }

  /** A TCP connection that never completes an upgrade (half of them send part of the headers): 408 at handshakeTimeout. */
  private async idleTcpLoop(index: number): Promise<void> {
    await this.sleep(index * 500); // staggered: the server sees a steady number, not waves
    while (this.running) {
      const t0 = performance.now();
      const socket = tcpConnect({ host: this.server.host, port: this.server.port, localAddress: SOAK_ADDRESSES.idleTcp });
      const item = this.track({ kind: 'idleTcp', kill: () => socket.destroy() });
      let got = '';
      socket.on('data', (d: Buffer) => {
        if (got.length < 64) got += d.toString('latin1');
      });
      socket.on('error', () => {});
      socket.once('connect', () => {
        this.count('idleTcp.opened');
        if (index % 2 === 1) socket.write(`GET /websocket/abuse-${this.runId}-idle HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
      });
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        new Promise<boolean>((r) => socket.once('close', () => r(true))),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 60_000))),
        this.stopped.then(() => false),
      ]);
      clearTimeout(timer);
      this.untrack(item);
      if (!this.running) {
        socket.destroy();
        break;
      }
      if (closed) {
        this.took('idleTcpClosed', performance.now() - t0);
        this.count(got.startsWith('HTTP/1.1 408') ? 'idleTcp.closed.408' : `idleTcp.closed.${got.slice(9, 12) || 'silently'}`);
      } else {
        this.count('idleTcp.notClosed');
        socket.destroy();
      }
      await this.sleep(100);
    }
  }

  /** A member alone in its room sending `to` fields with huge strings (and other invalid `to`s and JSON): `invalid_message`, no echo of the huge string. */
  private async hugeToLoop(): Promise<void> {
    const huge = `{"event":"candidate","to":"${'p'.repeat(HUGE_TO_CHARS)}"}`;
    for (let n = 0; this.running; n++) {
      const a = await this.abuser('hugeTo', `abuse-${this.runId}-to-${n}`, SOAK_ADDRESSES.hugeTo, (text) => {
        if (!text.startsWith('{"event":"invalid_message"')) return;
        const reason = /"reason":"([a-z_]+)"/.exec(text)?.[1] ?? '?';
        this.count(`hugeTo.answer.${reason}`);
        if (text.length > 200) this.count('hugeTo.answer.ECHOED_HUGE');
      });
      if (!a) {
        await this.sleep(2_000);
        continue;
      }
      const end = Date.now() + 30_000;
      for (let i = 0; this.running && a.ws.readyState === WebSocket.OPEN && Date.now() < end; i++) {
        // huge `to` (unknown_peer, not echoed), a number (invalid_to), huge again, a short unknown id (echoed), broken JSON.
        const variant = i % 5;
        a.ws.send(
          variant === 0 || variant === 2
            ? huge
            : variant === 1
              ? `{"to":${randInt(1, 1e6)}}`
              : variant === 3
                ? `{"event":"candidate","to":"${randomBytes(10).toString('base64')}"}`
                : `{"to":"${randomBytes(12).toString('base64')}"`,
        );
        this.count('hugeTo.frames');
        await this.sleep(this.load.hugeToEveryMs);
      }
      if (a.ws.readyState !== WebSocket.OPEN) this.count(`hugeTo.closedByServer.${await this.closedWithin(a, 1_000)}`);
      a.ws.close(1000);
      await this.closedWithin(a, 3_000);
    }
  }

  // ------------------------------------------------------------ abuse: TURN

  private async udpAbuser(kind: string, local: string): Promise<{ endpoint: StunEndpoint; close(): void }> {
    const socket = createSocket('udp4');
    const endpoint: StunEndpoint = { socket, pending: new Map() };
    const item = this.track({ kind, kill: () => closeUdp(socket) });
    socket.on('error', () => {});
    socket.on('message', (buf: Buffer) => {
      const reply = decode(buf);
      if (reply) endpoint.pending.get(reply.tid)?.(reply);
    });
    await new Promise<void>((resolve) => socket.bind(0, local, () => socket.connect(this.server.turnPort, this.server.host, () => resolve())));
    return {
      endpoint,
      close: () => {
        this.untrack(item);
        closeUdp(socket);
      },
    };
  }

  /**
   * Allocates that fail authentication: with made-up usernames (the server
   * looks each up once, remembers it is missing) or with wrong passwords for
   * honest TURN users (the guess throttle holds them to its budget). Each
   * attempt first asks for a nonce. No retransmission: what is not answered
   * within 500 ms was dropped.
   */
  private async turnAbuseLoop(kind: 'turnMadeUp' | 'turnWrongPassword', local: string, perS: number): Promise<void> {
    if (perS <= 0) return;
    const every = 1000 / perS;
    let abuser = await this.udpAbuser(kind, local);
    try {
      for (let n = 0; this.running; n++) {
        if (n > 0 && n % 50 === 0) {
          abuser.close(); // a new source port now and then
          abuser = await this.udpAbuser(kind, local);
        }
        const t0 = performance.now();
        const challenge = await once(abuser.endpoint, (tid) => encode(METHOD.ALLOCATE, tid, [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])]], null), 500);
        this.count(`${kind}.challenge.${replyKey(challenge)}`);
        const realm = challenge?.attrs.get(ATTR.REALM);
        const nonce = challenge?.attrs.get(ATTR.NONCE);
        if (realm && nonce) {
          const user = kind === 'turnMadeUp' ? `${SOAK_UNKNOWN_USER_PREFIX}${randomBytes(6).toString('hex')}` : `t${randInt(0, TURN_USERS - 1)}`;
          const key = createHash('md5').update(`${user}:${realm.toString()}:wrong-${randomBytes(3).toString('hex')}`).digest();
          const attrs: [number, Buffer][] = [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [ATTR.USERNAME, Buffer.from(user)], [ATTR.REALM, realm], [ATTR.NONCE, nonce]];
          const answer = await once(abuser.endpoint, (tid) => encode(METHOD.ALLOCATE, tid, attrs, key), 500);
          this.count(`${kind}.attempts`);
          this.count(`${kind}.answer.${replyKey(answer)}`);
        }
        await this.sleep(every - (performance.now() - t0));
      }
    } finally {
      abuser.close();
    }
  }

  /** Minimal and malformed datagrams: bare Allocate and Refresh, Binding, garbage, oversized, too many peers, stray ChannelData. */
  private async turnMinimalLoop(): Promise<void> {
    const perS = this.load.turnMinimalPerS;
    if (perS <= 0) return;
    const abuser = await this.udpAbuser('turnMinimal', SOAK_ADDRESSES.turnMinimal);
    const peers: [number, Buffer][] = Array.from({ length: 12 }, (_, i) => [ATTR.XOR_PEER_ADDRESS, xorAddress(`198.51.100.${i + 1}`, 3478)]);
    const kinds = ['bareAllocate', 'binding', 'garbage', 'oversized', 'tooManyPeers', 'bareRefresh', 'strayChannelData'] as const;
    try {
      for (let n = 0; this.running; n++) {
        const kind = kinds[n % kinds.length]!;
        this.count(`turnMinimal.sent.${kind}`);
        const e = abuser.endpoint;
        let answer: Promise<StunReply | null> | null = null;
        switch (kind) {
          case 'bareAllocate':
            answer = once(e, (tid) => encode(METHOD.ALLOCATE, tid, [], null), 500);
            break;
          case 'binding':
            answer = once(e, (tid) => encode(METHOD.BINDING, tid, [], null), 500);
            break;
          case 'garbage':
            e.socket.send(Buffer.concat([Buffer.from([0xc5]), randomBytes(39)]));
            break;
          case 'oversized':
            answer = once(e, (tid) => encode(METHOD.ALLOCATE, tid, [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [0x8022, Buffer.alloc(1_600, 0x41)]], null), 500);
            break;
          case 'tooManyPeers':
            answer = once(e, (tid) => encode(METHOD.CREATE_PERMISSION, tid, peers, null), 500);
            break;
          case 'bareRefresh':
            answer = once(e, (tid) => encode(METHOD.REFRESH, tid, [[ATTR.LIFETIME, u32(600)]], null), 500);
            break;
          case 'strayChannelData': {
            const data = Buffer.alloc(36);
            data.writeUInt16BE(0x4001, 0);
            data.writeUInt16BE(32, 2);
            e.socket.send(data);
            break;
          }
        }
        if (answer) void answer.then((r) => this.count(`turnMinimal.answer.${kind}.${replyKey(r)}`));
        await this.sleep(1000 / perS);
      }
    } finally {
      abuser.close();
    }
  }
}

function candidate(m: HonestMember): string {
  return `"z":"${nowUs()}:${m.seq++}:0",${CANDIDATE_FIELDS}`;
}

function deadline(): number {
  return Date.now() + TURN_TIMEOUT_MS;
}

function closeUdp(socket: UdpSocket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

/** One request, no retransmission: its answer, or null after `ms`. */
function once(e: StunEndpoint, build: (tid: Buffer) => Buffer, ms: number): Promise<StunReply | null> {
  const tid = randomBytes(12);
  const key = tid.toString('hex');
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      e.pending.delete(key);
      resolve(null);
    }, ms);
    e.pending.set(key, (reply) => {
      clearTimeout(timer);
      e.pending.delete(key);
      resolve(reply);
    });
    try {
      e.socket.send(build(tid));
    } catch {
      clearTimeout(timer);
      e.pending.delete(key);
      resolve(null);
    }
  });
}

/** `ok`, the error code (`401`…), or `none` (no answer: dropped by the server). */
function replyKey(reply: StunReply | null): string {
  if (!reply) return 'none';
  if ((reply.type & 0x0110) === CLASS.SUCCESS) return 'ok';
  return String(errorCode(reply) ?? `type-0x${reply.type.toString(16)}`);
}

// ---------------------------------------------------------------- IPC ops

let current: SoakRun | null = null;

export async function soakStart(request: SoakStartRequest): Promise<{ started: true }> {
  await current?.stop();
  current = new SoakRun(request.role, request.server, request.load, request.runId, request.stopAfterMs);
  await current.start();
  return { started: true };
}

export function soakStats(): SoakWorkerStats | null {
  return current?.stats() ?? null;
}

export async function soakStop(): Promise<SoakWorkerStats | null> {
  const run = current;
  if (!run) return null;
  await run.stop();
  return run.stats();
}
