/**
 * The TURN suite's client over a stream (RFC 8656 section 5: TCP, or TLS),
 * a process of its own started by bench/suites/turn.ts: the same sessions as
 * the UDP load client (turn-client.ts: its `authed` answers the challenges,
 * with the bench's own STUN codec), each on one TCP or TLS connection, with
 * ChannelData padded to 4 bytes and framed on the stream. Each session keeps
 * `window` packets in flight to the echo peer; a packet that comes back was
 * relayed twice. Configuration in BENCH_STREAM (JSON); it prints JSON lines:
 * `{"phase":"measure"}` when the measured window opens, then
 * `{"phase":"stats",…}` when it closes, and exits. Every wait is bounded.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ATTR, decode, METHOD, u32, xorAddress } from '../lib/stun.js';
import type { StunReply } from '../lib/stun.js';
import { authed } from './turn-client.js';
import type { Credentials, StunEndpoint } from './turn-client.js';

export interface StreamClientConfig {
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  peer: { host: string; port: number };
  user: string;
  password: string;
  sessions: number;
  window: number;
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
}

export interface StreamClientStats {
  phase: 'stats';
  sessions: number;
  failed: number;
  firstError: string | null;
  sent: number;
  received: number;
  windowMs: number;
}

const FIRST_CHANNEL = 0x4000;
const SETUP_TIMEOUT_MS = 10_000;

interface StreamSession {
  socket: Socket;
  channel: number;
  packet: Buffer;
  inflight: number;
  pending: Map<string, (reply: StunReply) => void>;
}

const config = JSON.parse(process.env.BENCH_STREAM ?? '{}') as StreamClientConfig;
const counters = { sent: 0, received: 0 };
let measuring = false;
let window = 0;

/** Splits a stream into STUN messages and (padded) ChannelData frames. */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let held = Buffer.alloc(0);
  return (chunk) => {
    let buf = held.length ? Buffer.concat([held, chunk]) : chunk;
    for (;;) {
      if (buf.length < 4) break;
      const channelData = (buf[0]! & 0xc0) === 0x40;
      const length = buf.readUInt16BE(2);
      const size = channelData ? 4 + ((length + 3) & ~3) : 20 + length;
      if (buf.length < size) break;
      onFrame(buf.subarray(0, size));
      buf = buf.subarray(size);
    }
    held = Buffer.from(buf);
  };
}

function connect(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = config.transport === 'tls'
      ? tlsConnect({ host: config.host, port: config.port, rejectUnauthorized: false }, () => resolve(socket))
      : tcpConnect({ host: config.host, port: config.port }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.once('error', reject);
  });
}

function fill(session: StreamSession): void {
  while (session.inflight < window) {
    session.socket.write(session.packet);
    session.inflight++;
    if (measuring) counters.sent++;
  }
}

async function open(index: number): Promise<StreamSession> {
  const socket = await connect();
  const channel = FIRST_CHANNEL + index;
  const packet = Buffer.alloc(4 + ((config.payloadBytes + 3) & ~3), 0x5a);
  packet.writeUInt16BE(channel, 0);
  packet.writeUInt16BE(config.payloadBytes, 2);
  const session: StreamSession = { socket, channel, packet, inflight: 0, pending: new Map() };
  socket.on('error', () => {});
  socket.on('data', framer((frame) => {
    if ((frame[0]! & 0xc0) === 0x40) {
      if (frame.readUInt16BE(0) !== channel) return;
      if (measuring) counters.received++;
      if (session.inflight > 0) session.inflight--;
      fill(session);
      return;
    }
    const reply = decode(frame);
    if (reply) session.pending.get(reply.tid)?.(reply);
  }));
  // turn-client's transactions retransmit: over a stream a request is written once (RFC 8489 section 6.2.2)
  const sentOnce = new Set<string>();
  const endpoint: StunEndpoint = {
    socket: {
      send: (message: Buffer) => {
        const tid = message.toString('hex', 8, 20);
        if (sentOnce.has(tid)) return;
        sentOnce.add(tid);
        socket.write(message);
      },
    } as unknown as UdpSocket,
    pending: session.pending,
  };
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  const creds: Credentials = { user: config.user, password: config.password, key: null, realm: null, nonce: null };
  await authed(endpoint, METHOD.ALLOCATE, [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [ATTR.LIFETIME, u32(600)]], creds, deadline);
  const number = Buffer.alloc(4);
  number.writeUInt16BE(channel, 0);
  await authed(endpoint, METHOD.CHANNEL_BIND, [[ATTR.CHANNEL_NUMBER, number], [ATTR.XOR_PEER_ADDRESS, xorAddress(config.peer.host, config.peer.port)]], creds, deadline);
  return session;
}

const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const results = await Promise.allSettled(Array.from({ length: config.sessions }, (_, i) => open(i)));
const sessions = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
window = config.window;
for (const s of sessions) fill(s);
await sleep(config.warmupMs);
measuring = true;
const started = performance.now();
print({ phase: 'measure' });
await sleep(config.measureMs);
measuring = false;
const stats: StreamClientStats = {
  phase: 'stats',
  sessions: sessions.length,
  failed: config.sessions - sessions.length,
  firstError: failure ? String((failure.reason as Error)?.message ?? failure.reason) : null,
  sent: counters.sent,
  received: counters.received,
  windowMs: performance.now() - started,
};
print(stats);
window = 0;
for (const s of sessions) s.socket.destroy();
process.exit(0);
