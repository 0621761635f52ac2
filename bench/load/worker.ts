/**
 * A load-generator process. It holds WebSocket clients of one target and
 * does what the orchestrator asks over IPC: connect them, send at a rate or
 * with a window in flight, count what arrives and how late, hold idle
 * connections, or run connect/leave cycles. Every loop is bounded in count
 * and time, and the process exits when its parent goes away.
 */
import { WebSocket } from 'ws';
import { Histogram, nowUs } from '../lib/hist.js';
import { messageBody, PROTOCOLS, readStamp } from '../lib/protocols.js';
import type { ClientProtocol, Mode, Stamp } from '../lib/protocols.js';
import { closeAll, connect, pool } from './clients.js';
import { signalingStart, signalingStop } from './signaling.js';
import { soakStart, soakStats, soakStop } from './soak.js';
import { storm } from './storm.js';
import type { HeldClient } from './storm.js';
import { turnLoad, turnMeasureStart, turnMeasureStop, turnSetup, turnStopLoad, turnTeardown } from './turn-client.js';
import type { ChurnResult, Envelope, IdleResult, LoadStats, WorkerReply, WorkerRequest } from './messages.js';

/** Above this many bytes queued on a client socket, its sends are skipped. */
const MAX_BUFFERED = 1 << 20;
/** Closed-loop messages not complete after this long are written off. */
const LOST_AFTER_US = 2_000_000;
/** Open loop: at most this much backlog (in seconds of the rate) is caught up per tick. */
const CATCH_UP_S = 0.05;
const TICK_MS = 2;
/** Hard cap on one churn run, whatever the orchestrator asked. */
const MAX_CHURN_MS = 120_000;

interface Room {
  name: string;
  clients: Client[];
  seq: number;
  next: number;
  inflight: Map<number, { remaining: number; sentUs: number }>;
}

interface Client {
  ws: WebSocket;
  room: Room;
  idx: number;
  addr: string;
}

const stamp: Stamp = { sentUs: 0, seq: 0, sender: 0 };
const hist = new Histogram();
const counters = { sent: 0, delivered: 0, selfEcho: 0, skipped: 0, lagged: 0, lost: 0 };
let windowStart = performance.now();

let protocol: ClientProtocol | null = null;
let mode: Mode = 'broadcast';
let rooms: Room[] = [];
let clients: Client[] = [];
/** Idle clients (the idle op, churn's stationary members), held until teardown; the storm drops and reconnects them. */
let held: HeldClient[] = [];
let ticker: NodeJS.Timeout | null = null;
let closedWindow = 0;

function resetCounters(): void {
  for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
  hist.reset();
  windowStart = performance.now();
}

function onFrame(client: Client, data: Buffer): void {
  if (!readStamp(data, stamp)) return;
  if (stamp.sender === client.idx) {
    counters.selfEcho++;
    return;
  }
  counters.delivered++;
  hist.record(nowUs() - stamp.sentUs);
  if (closedWindow > 0) {
    const room = client.room;
    const flight = room.inflight.get(stamp.seq);
    if (flight && --flight.remaining === 0) {
      room.inflight.delete(stamp.seq);
      sendNext(room);
    }
  }
}

function send(client: Client): boolean {
  const room = client.room;
  if (client.ws.readyState !== WebSocket.OPEN || client.ws.bufferedAmount > MAX_BUFFERED) {
    counters.skipped++;
    return false;
  }
  const seq = room.seq++;
  const to = mode === 'unicast' ? room.clients[(client.idx + 1) % room.clients.length]!.addr : undefined;
  const sentUs = nowUs();
  client.ws.send(protocol!.encode(mode, room.name, to, messageBody(sentUs, seq, client.idx)));
  counters.sent++;
  if (closedWindow > 0) room.inflight.set(seq, { remaining: mode === 'unicast' ? 1 : room.clients.length - 1, sentUs });
  return true;
}

function sendNext(room: Room): boolean {
  const client = room.clients[room.next++ % room.clients.length]!;
  return send(client);
}

/** The signaling profile's sends, counted with the fan-out load's. */
const sendCounter = {
  sent: () => void counters.sent++,
  skipped: () => void counters.skipped++,
  lagged: (n: number) => void (counters.lagged += n),
};

function stopLoad(): void {
  if (ticker) clearInterval(ticker);
  ticker = null;
  closedWindow = 0;
  for (const room of rooms) room.inflight.clear();
}

function openLoop(perSecond: number): void {
  stopLoad();
  if (perSecond <= 0 || clients.length === 0) return;
  const t0 = performance.now();
  let issued = 0;
  let rr = 0;
  const cap = Math.max(1, Math.ceil(perSecond * CATCH_UP_S));
  ticker = setInterval(() => {
    const due = Math.floor((perSecond * (performance.now() - t0)) / 1000) - issued;
    if (due <= 0) return;
    const n = Math.min(due, cap);
    if (due > perSecond * 0.2) {
      counters.lagged += due - n;
      issued += due - n;
    }
    for (let i = 0; i < n; i++) send(clients[rr++ % clients.length]!);
    issued += n;
  }, TICK_MS);
}

function closedLoop(window: number): void {
  stopLoad();
  if (window <= 0 || rooms.length === 0) return;
  closedWindow = window;
  for (const room of rooms) for (let i = 0; i < window; i++) sendNext(room);
  // Write off what never completes, and keep every room's window full.
  ticker = setInterval(() => {
    const now = nowUs();
    for (const room of rooms) {
      for (const [seq, flight] of room.inflight) {
        if (now - flight.sentUs > LOST_AFTER_US) {
          room.inflight.delete(seq);
          counters.lost++;
        }
      }
      for (let tries = 0; room.inflight.size < closedWindow && tries < closedWindow; tries++) sendNext(room);
    }
  }, 100);
}

async function setup(request: Extract<WorkerRequest, { op: 'setup' }>): Promise<{ clients: number }> {
  await teardown();
  protocol = PROTOCOLS[request.target.kind];
  mode = request.mode;
  if (!protocol.modes.includes(mode)) throw new Error(`${request.target.kind} has no ${mode} mode`);
  const proto = protocol;
  rooms = request.rooms.map((r) => ({ name: r.name, clients: [], seq: 0, next: 0, inflight: new Map() }));
  const plan = rooms.flatMap((room, r) => {
    const bases = request.rooms[r]!.bases;
    return Array.from({ length: request.rooms[r]!.k }, (_, idx) => ({ room, idx, target: bases?.length ? { ...request.target, base: bases[idx % bases.length]! } : request.target }));
  });
  const results = await pool(plan.length, 50, async (i) => {
    const { room, idx, target } = plan[i]!;
    const local = request.localAddresses.length > 0 ? request.localAddresses[i % request.localAddresses.length] : undefined;
    const { ws, addr } = await connect(proto, target, room.name, `${request.clientPrefix}-${room.name}-${idx}`, local, request.timeoutMs);
    const client: Client = { ws, room, idx, addr };
    room.clients[idx] = client;
    ws.on('message', (data: Buffer) => onFrame(client, data));
    ws.on('error', () => {});
    return client;
  });
  const failed = results.find((r) => r.status === 'rejected');
  clients = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) throw new Error(`${results.length - clients.length} of ${results.length} clients failed: ${String((failed as PromiseRejectedResult).reason)}`);
  // Interleave rooms in the open-loop round-robin.
  clients.sort((a, b) => a.idx - b.idx);
  return { clients: clients.length };
}

async function teardown(): Promise<void> {
  stopLoad();
  signalingStop();
  const sockets = [...clients.map((c) => c.ws), ...held.map((c) => c.ws)];
  clients = [];
  rooms = [];
  held = [];
  await Promise.all([closeAll(sockets), turnTeardown(), soakStop()]);
}

async function idle(request: Extract<WorkerRequest, { op: 'idle' }>): Promise<IdleResult> {
  const proto = PROTOCOLS[request.target.kind];
  const started = performance.now();
  let firstError: string | null = null;
  const results = await pool(request.count, request.concurrency, async (i) => {
    const room = `${request.roomPrefix}${Math.floor(i / request.roomSize)}`;
    const local = request.localAddresses.length > 0 ? request.localAddresses[i % request.localAddresses.length] : undefined;
    const target = request.bases?.length ? { ...request.target, base: request.bases[i % request.bases.length]! } : request.target;
    const clientId = `${request.clientPrefix}${i}`;
    const { ws } = await connect(proto, target, room, clientId, local, request.timeoutMs);
    ws.on('error', () => {});
    held.push({ ws, target, room, clientId, local });
  });
  let failed = 0;
  for (const r of results) {
    if (r.status === 'rejected') {
      failed++;
      firstError ??= String(r.reason);
    }
  }
  return { connected: request.count - failed, failed, ms: performance.now() - started, firstError };
}

async function churn(request: Extract<WorkerRequest, { op: 'churn' }>): Promise<ChurnResult> {
  const proto = PROTOCOLS[request.target.kind];
  const local = (i: number) => (request.localAddresses.length > 0 ? request.localAddresses[i % request.localAddresses.length] : undefined);
  // One member stays in each room, so every join and leave is announced to someone.
  for (let r = 0; r < request.rooms.length; r++) {
    const clientId = `${request.clientPrefix}stay${r}`;
    const { ws } = await connect(proto, request.target, request.rooms[r]!, clientId, local(r), 10_000);
    ws.on('error', () => {});
    held.push({ ws, target: request.target, room: request.rooms[r]!, clientId, local: local(r) });
  }
  const churnHist = new Histogram();
  const started = performance.now();
  const deadline = started + Math.min(request.durationMs, MAX_CHURN_MS);
  let cycles = 0;
  let errors = 0;
  let counter = 0;
  let firstError: string | null = null;
  const loop = async (lane: number) => {
    const room = request.rooms[lane % request.rooms.length]!;
    while (performance.now() < deadline && cycles + errors < 10_000_000) {
      const id = counter++;
      const t0 = nowUs();
      try {
        const { ws } = await connect(proto, request.target, room, `${request.clientPrefix}${id}`, local(id), 5_000);
        ws.on('error', () => {});
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => ws.terminate(), 2_000);
          ws.once('close', () => {
            clearTimeout(force);
            resolve();
          });
          ws.close(1000);
        });
        churnHist.record(nowUs() - t0);
        cycles++;
      } catch (err) {
        errors++;
        firstError ??= String(err);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: request.loops }, (_, lane) => loop(lane)));
  const ms = performance.now() - started;
  await teardown();
  return { cycles, errors, ms, hist: churnHist.toSparse(), maxUs: churnHist.maxUs, firstError };
}

function stats(): LoadStats {
  return {
    windowMs: performance.now() - windowStart,
    ...counters,
    hist: hist.toSparse(),
    maxUs: hist.maxUs,
  };
}

async function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.op) {
    case 'setup':
      return setup(request);
    case 'rate':
      openLoop(request.perSecond);
      return null;
    case 'closed':
      closedLoop(request.window);
      return null;
    case 'stop-load':
      stopLoad();
      return null;
    case 'measure-start':
      resetCounters();
      return null;
    case 'measure-stop':
      return stats();
    case 'teardown':
      await teardown();
      return null;
    case 'idle':
      return idle(request);
    case 'churn':
      return churn(request);
    case 'sig-start':
      if (!protocol) throw new Error('sig-start before setup');
      signalingStart(request, protocol, rooms, sendCounter);
      return null;
    case 'sig-stop':
      signalingStop();
      return null;
    case 'storm':
      return storm(request, held);
    case 'turn-setup':
      return turnSetup(request);
    case 'turn-load':
      turnLoad(request.window);
      return null;
    case 'turn-stop-load':
      turnStopLoad();
      return null;
    case 'turn-measure-start':
      turnMeasureStart();
      return null;
    case 'turn-measure-stop':
      return turnMeasureStop();
    case 'soak-start':
      return soakStart(request);
    case 'soak-stats':
      return soakStats();
    case 'soak-stop':
      return soakStop();
  }
}

process.on('message', (raw) => {
  const envelope = raw as Envelope;
  handle(envelope).then(
    (result) => process.send?.({ id: envelope.id, ok: true, result } satisfies WorkerReply),
    (err: unknown) => process.send?.({ id: envelope.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies WorkerReply);
