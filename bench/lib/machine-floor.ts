/**
 * The churn cycle's floor set by the two state machines alone: a connection
 * actor's whole life (created, started, `frame.authenticate`, `auth.checked`,
 * `room.joined`, `socket.closed`) and its room actor's part (`room.join`,
 * `room.admitted`, `room.leave`, `room.removed`), with every effect a no-op:
 * no socket, no store, no timer. What XState itself costs per cycle, in time
 * and in bytes allocated (which the server's garbage collector then pays
 * for), measured in a child process of its own (`--expose-gc`, a young
 * generation large enough that no collection runs while it counts).
 *
 * Run as a script it prints its figures as JSON; `measureMachineFloor` runs it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { createActor } from 'xstate';
import { connectionMachine } from '../../src/signaling/connection.machine.js';
import { roomMachine } from '../../src/rooms/room.machine.js';
import type { Member } from '../../src/rooms/room-bus.js';

export interface MachineFloor {
  /** One connection actor's life, µs (median of 5 batches) and bytes allocated. */
  connectionUs: number;
  connectionBytes: number;
  /** One join and one leave through a room actor (4 events), µs and bytes. */
  roomUs: number;
  roomBytes: number;
}

const CREDENTIALS = { username: 'u', password: 'p' };
const sink = { deliver: () => {}, evicted: () => {} };
const member: Member = { peerId: 'p', username: 'u', sink };
const requester = { send: () => {} };

function connectionLife(i: number): void {
  const actor = createActor(connectionMachine, {
    systemId: `connection:${i}`,
    input: { peerId: `p${i}`, room: 'r', source: '127.0.0.1', authTimeout: 10_000, maxAuthAttempts: 3 },
  });
  actor.start();
  actor.send({ type: 'frame.authenticate', credentials: CREDENTIALS });
  actor.send({ type: 'auth.checked', username: 'u' });
  actor.send({ type: 'room.joined' });
  actor.send({ type: 'socket.closed' });
}

function roomVisit(room: { send: (event: never) => void }): void {
  const send = room.send as (event: unknown) => void;
  send({ type: 'room.join', member, requester });
  send({ type: 'room.admitted', member, before: [member], requester });
  send({ type: 'room.leave', peerId: member.peerId });
  send({ type: 'room.removed', member, remaining: [member], remainingHere: 1 });
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function measure(cycle: (i: number) => void): { us: number; bytes: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('machine-floor needs --expose-gc');
  for (let i = 0; i < 20_000; i++) cycle(i); // warm: optimized code, as in a running server
  const times: number[] = [];
  const bytes: number[] = [];
  const batch = 1_000;
  for (let b = 0; b < 5; b++) {
    gc();
    const collections = new GCProfiler();
    collections.start();
    const before = getHeapStatistics().used_heap_size;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) cycle(i);
    times.push(Number(process.hrtime.bigint() - t0) / batch / 1000);
    const grown = getHeapStatistics().used_heap_size - before;
    // A collection during the batch would hide what it allocated: such a batch counts for time only.
    if (collections.stop().statistics.length === 0) bytes.push(grown / batch);
  }
  if (bytes.length === 0) throw new Error('a collection ran in every batch: the young generation is too small');
  return { us: median(times), bytes: Math.round(median(bytes)) };
}

function run(): MachineFloor {
  const room = createActor(roomMachine, { input: { room: 'r' } });
  room.start();
  const connection = measure(connectionLife);
  const visit = measure(() => roomVisit(room));
  return { connectionUs: connection.us, connectionBytes: connection.bytes, roomUs: visit.us, roomBytes: visit.bytes };
}

/** Runs the measurement in a child process (its own heap and flags); why not, when it fails. */
export function measureMachineFloor(): MachineFloor | { error: string } {
  try {
    const out = execFileSync(process.execPath, ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256', '--import', 'tsx', fileURLToPath(import.meta.url)], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out) as MachineFloor;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim().split('\n').at(-1);
    return { error: stderr || (err as Error).message };
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(JSON.stringify(run()));
