/**
 * The TURN side of a load-generator process: UDP sessions that each allocate
 * a relay with long-term credentials (401 → Allocate with USERNAME, REALM,
 * NONCE, MESSAGE-INTEGRITY; 438 retried), bind a channel to the echo peer,
 * then keep `window` ChannelData packets in flight: client → server → relay
 * → peer (echoes) → relay → server → client, so every packet that comes back
 * was relayed twice. The STUN codec is the bench's own (bench/lib/stun.ts, not
 * src/turn's), so the same client measures our server and coturn alike. Every wait is bounded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { Histogram, nowUs } from '../lib/hist.js';
import { ATTR, CLASS, decode, encode, errorCode, METHOD, readXorAddress, u32, xorAddress } from '../lib/stun.js';
import type { StunReply } from '../lib/stun.js';
import type { TurnLoadStats, TurnSetupRequest, TurnSetupResult } from './messages.js';

const FIRST_CHANNEL = 0x4000;
/** Packets in flight on a session that got nothing back for this long are written off. */
const LOST_AFTER_MS = 300;
const SWEEP_MS = 50;
/** STUN retransmission (RFC 5389 section 7.2.1, shortened for loopback). */
const RTO_MS = 250;

interface Session {
  socket: Socket;
  channel: number;
  inflight: number;
  lastProgressMs: number;
  pending: Map<string, (reply: StunReply) => void>;
  template: Buffer;
  relayed: string;
}

let sessions: Session[] = [];
let window = 0;
let sweeper: NodeJS.Timeout | null = null;
const hist = new Histogram();
const counters = { sent: 0, received: 0, lost: 0, indications: 0, sendErrors: 0 };
let windowStart = performance.now();

// ---------------------------------------------------------------- sessions

/** What a STUN transaction needs: the socket (connected to the server) and the replies awaited on it. */
export interface StunEndpoint {
  socket: Socket;
  pending: Map<string, (reply: StunReply) => void>;
}

export function transact(session: StunEndpoint, build: (tid: Buffer) => Buffer, deadline: number): Promise<StunReply> {
  const tid = randomBytes(12);
  const key = tid.toString('hex');
  const message = build(tid);
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout;
    const attempt = () => {
      if (Date.now() >= deadline) {
        session.pending.delete(key);
        reject(new Error('TURN server did not answer in time'));
        return;
      }
      session.socket.send(message);
      timer = setTimeout(attempt, RTO_MS);
    };
    session.pending.set(key, (reply) => {
      clearTimeout(timer);
      session.pending.delete(key);
      resolve(reply);
    });
    attempt();
  });
}

export interface Credentials {
  user: string;
  key: Buffer | null;
  realm: Buffer | null;
  nonce: Buffer | null;
  password: string;
}

/** A request with long-term credentials, answering the 401/438 challenges (at most 3). */
export async function authed(session: StunEndpoint, method: number, attrs: [number, Buffer][], creds: Credentials, deadline: number): Promise<StunReply> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const auth: [number, Buffer][] = creds.key
      ? [[ATTR.USERNAME, Buffer.from(creds.user)], [ATTR.REALM, creds.realm!], [ATTR.NONCE, creds.nonce!]]
      : [];
    const reply = await transact(session, (tid) => encode(method, tid, [...attrs, ...auth], creds.key), deadline);
    if (reply.type === (CLASS.SUCCESS | method)) return reply;
    const code = errorCode(reply);
    const realm = reply.attrs.get(ATTR.REALM);
    const nonce = reply.attrs.get(ATTR.NONCE);
    if ((code === 401 || code === 438) && nonce && (realm || creds.realm)) {
      if (code === 401 && creds.key && attempt > 0 && realm?.equals(creds.realm!)) throw new Error(`TURN 401: credentials refused`);
      creds.realm = Buffer.from(realm ?? creds.realm!);
      creds.nonce = Buffer.from(nonce);
      creds.key = createHash('md5').update(`${creds.user}:${creds.realm.toString()}:${creds.password}`).digest();
      continue;
    }
    const reason = reply.attrs.get(ATTR.ERROR_CODE)?.subarray(4).toString() ?? '';
    throw new Error(`TURN error ${code ?? `type 0x${reply.type.toString(16)}`} ${reason}`.trim());
  }
  throw new Error('TURN: too many authentication challenges');
}

async function open(request: TurnSetupRequest, index: number): Promise<Session> {
  const socket = createSocket({ type: 'udp4' });
  const session: Session = {
    socket,
    channel: FIRST_CHANNEL + (index % 0x3fff),
    inflight: 0,
    lastProgressMs: 0,
    pending: new Map(),
    template: Buffer.alloc(4 + request.payloadBytes),
    relayed: '',
  };
  socket.on('error', () => {
    counters.sendErrors++;
  });
  socket.on('message', (buf: Buffer) => onDatagram(session, buf));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    await handshake(session, request);
    return session;
  } catch (err) {
    for (const settle of session.pending.values()) settle({ type: 0, attrs: new Map() });
    socket.close();
    throw err;
  }
}

async function handshake(session: Session, request: TurnSetupRequest): Promise<void> {
  await new Promise<void>((resolve) => session.socket.connect(request.server.port, request.server.host, () => resolve()));
  const deadline = Date.now() + request.timeoutMs;
  const creds: Credentials = { user: request.user, password: request.password, key: null, realm: null, nonce: null };
  const allocated = await authed(
    session,
    METHOD.ALLOCATE,
    [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [ATTR.LIFETIME, u32(600)]],
    creds,
    deadline,
  );
  session.relayed = readXorAddress(allocated.attrs.get(ATTR.XOR_RELAYED_ADDRESS)) ?? '?';
  const channel = Buffer.alloc(4);
  channel.writeUInt16BE(session.channel, 0);
  await authed(session, METHOD.CHANNEL_BIND, [[ATTR.CHANNEL_NUMBER, channel], [ATTR.XOR_PEER_ADDRESS, xorAddress(request.peer.host, request.peer.port)]], creds, deadline);
  session.template.writeUInt16BE(session.channel, 0);
  session.template.writeUInt16BE(request.payloadBytes, 2);
  session.template.fill(0x5a, 12);
}

function onDatagram(session: Session, buf: Buffer): void {
  const first = buf[0] ?? 0;
  if (first >= 0x40 && first <= 0x7f) {
    // ChannelData: the payload starts with the send time the echo peer sent back.
    if (buf.length < 12 || buf.readUInt16BE(0) !== session.channel) return;
    counters.received++;
    hist.record(nowUs() - buf.readDoubleLE(4));
    if (session.inflight > 0) session.inflight--;
    session.lastProgressMs = performance.now();
    fill(session);
    return;
  }
  const reply = decode(buf);
  if (!reply) return;
  if (reply.type === 0x0017) {
    counters.indications++; // a Data indication: the server did not use the bound channel
    return;
  }
  session.pending.get(reply.tid)?.(reply);
}

function fill(session: Session): void {
  while (session.inflight < window) {
    const packet = Buffer.allocUnsafe(session.template.length);
    session.template.copy(packet);
    packet.writeDoubleLE(nowUs(), 4);
    session.socket.send(packet);
    session.inflight++;
    counters.sent++;
  }
}

// ---------------------------------------------------------------- IPC ops

export async function turnSetup(request: TurnSetupRequest): Promise<TurnSetupResult> {
  await turnTeardown();
  const results = await Promise.allSettled(Array.from({ length: request.sessions }, (_, i) => open(request, request.firstIndex + i)));
  let firstError: string | null = null;
  for (const r of results) {
    if (r.status === 'fulfilled') sessions.push(r.value);
    else firstError ??= r.reason instanceof Error ? r.reason.message : String(r.reason);
  }
  if (sessions.length === 0) throw new Error(`no TURN session could be set up: ${firstError}`);
  return { sessions: sessions.length, failed: request.sessions - sessions.length, firstError, relayed: sessions.map((s) => s.relayed) };
}

/** Closed loop: `perSession` packets in flight on every session, each replaced when it comes back. */
export function turnLoad(perSession: number): void {
  window = perSession;
  const now = performance.now();
  for (const s of sessions) {
    s.lastProgressMs = now;
    fill(s);
  }
  if (!sweeper) {
    sweeper = setInterval(() => {
      const t = performance.now();
      for (const s of sessions) {
        if (s.inflight > 0 && t - s.lastProgressMs > LOST_AFTER_MS) {
          counters.lost += s.inflight;
          s.inflight = 0;
          s.lastProgressMs = t;
          fill(s);
        }
      }
    }, SWEEP_MS);
  }
}

export function turnStopLoad(): void {
  window = 0;
  if (sweeper) clearInterval(sweeper);
  sweeper = null;
}

export function turnMeasureStart(): void {
  for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
  hist.reset();
  windowStart = performance.now();
}

export function turnMeasureStop(): TurnLoadStats {
  return { windowMs: performance.now() - windowStart, ...counters, hist: hist.toSparse(), maxUs: hist.maxUs };
}

export async function turnTeardown(): Promise<void> {
  turnStopLoad();
  const closing = sessions.map(
    (s) =>
      new Promise<void>((resolve) => {
        for (const settle of s.pending.values()) settle({ type: 0, attrs: new Map() });
        try {
          s.socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
  );
  sessions = [];
  await Promise.all(closing);
}
