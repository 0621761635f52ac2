/**
 * What the main thread and a TURN relay thread (docs/turn-threads.md) tell
 * each other over the worker's message port, what two relay threads send
 * each other over their own channel (`PeerDatagram`, a forwarded datagram:
 * the main thread never sees those), and the data a thread starts with.
 * Every message is checked against these schemas where it arrives
 * (`parseFromThread` on main, `parseToThread` and `parsePeerDatagram` in the
 * thread): a thread gets only data and message ports, never functions.
 *
 * The main thread is the authority for what the threads share: passwords
 * (the credential cache signaling fills, and `auth`), allocation quotas and
 * which thread owns which client (quota.take/release), the password-guess
 * throttle (gate.*). Counts the main thread reads synchronously live in
 * shared memory (`STAT_CELLS`); events are sent in batches.
 */
import { MessagePort } from 'node:worker_threads';
import { z } from 'zod';

/** Cells of one thread's Float64Array of statistics (shared memory, written by the thread only). */
export const STAT_CELLS = {
  allocations: 0,
  permissions: 1,
  channels: 2,
  relayedBytes: 3,
  relaySockets: 4,
  pendingAllocations: 5,
  pendingAuthLookups: 6,
  engineNonces: 7,
  /** Datagrams another thread forwarded to this one (it owns their client) and this one handled. */
  forwarded: 8,
  /** Ports of channels to other relay threads this thread holds open (one per other running thread, once a replaced one has closed). */
  peerChannels: 9,
} as const;
export const STAT_CELL_COUNT = 10;

/** Most relay threads (the option's bound). */
export const MAX_RELAY_THREADS = 64;

const refusalReasons = z.enum([
  'permission_quota', 'too_many_peers', 'too_large', 'lookup_busy', 'lookup_timeout', 'challenge_rate',
  'stream_limit', 'stream_invalid', 'stream_timeout', 'stream_backlog',
]);
const count = z.number().int().min(0);
const key = z.string().max(1024);
const client = z.string().max(64).nullable();
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'must be bytes' });

export const threadConfigSchema = z.strictObject({
  listenHost: z.string(),
  port: z.number().int().min(0).max(65535),
  realm: z.string(),
  relayAddress: z.string(),
  relayBindHost: z.string(),
  relayPorts: z.tuple([z.number().int(), z.number().int()]),
  maxLifetimeSec: z.number().int().positive(),
  quotas: z.strictObject({ perUser: z.number().int().positive(), total: z.number().int().positive() }),
  peers: z.strictObject({
    allowLoopbackPeers: z.boolean(),
    allowed: z.array(z.string()),
    denied: z.array(z.string()),
    selfAddresses: z.array(z.string()),
    relayPorts: z.tuple([z.number().int(), z.number().int()]),
  }),
  limits: z.record(z.string(), z.number()).optional(),
  credentials: z.record(z.string(), z.number()).optional(),
  unmended: z.array(z.string()).optional(),
  nonceKey: bytes,
  nonceLifetimeSec: z.number().positive().optional(),
});
export type ThreadConfig = z.infer<typeof threadConfigSchema>;

const threadIndex = z.number().int().min(1).max(MAX_RELAY_THREADS);

/** The channel to relay thread `thread`: the port, and that thread's inbox counter (its in-flight bound). */
const peerChannelSchema = z.strictObject({
  thread: threadIndex,
  port: z.instanceof(MessagePort),
  inbox: z.instanceof(SharedArrayBuffer),
});
export type PeerChannel = z.infer<typeof peerChannelSchema>;

export const threadDataSchema = z.strictObject({
  /** 1..N, as the child id turn_relay_<index>. */
  index: threadIndex,
  /** Relay threads of the server (indexes 1..threads): where a RESERVATION-TOKEN may be forwarded. */
  threads: z.number().int().min(1).max(MAX_RELAY_THREADS),
  config: threadConfigSchema,
  logLevel: z.string(),
  /** This thread's statistics (STAT_CELLS). */
  stats: z.instanceof(SharedArrayBuffer),
  /** One Int32: datagrams forwarded to this thread (this start of it) and not yet taken; the senders add, it subtracts. */
  inbox: z.instanceof(SharedArrayBuffer),
  /** A channel to every other relay thread running now (the others get the far ends from the main thread). */
  peers: z.array(peerChannelSchema).max(MAX_RELAY_THREADS),
  /** Clients other threads own now: [client, thread index]. */
  owners: z.array(z.tuple([z.string(), z.number().int()])),
});
export type ThreadData = z.infer<typeof threadDataSchema>;

export const fromThreadSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('ready'), port: z.number().int() }),
  z.strictObject({ t: z.literal('password'), id: count, username: key }),
  /** `reserved`: the slot `user` holds for an EVEN-PORT reservation becomes `client`'s allocation's (shared-quota.ts). */
  z.strictObject({ t: z.literal('quota.take'), id: count, user: key, client, reserved: z.literal(true).optional() }),
  z.strictObject({ t: z.literal('quota.release'), user: key, client }),
  z.strictObject({ t: z.literal('gate.admit'), ip: key, username: key }),
  z.strictObject({ t: z.literal('gate.succeeded'), ip: key, username: key }),
  z.strictObject({
    t: z.literal('events'),
    authFailed: count,
    throttledIp: count,
    throttledUsername: count,
    refused: z.partialRecord(refusalReasons, count),
  }),
  z.strictObject({ t: z.literal('log'), line: z.string().max(64 * 1024), suppressed: count }),
]);
export type FromThread = z.infer<typeof fromThreadSchema>;

export const toThreadSchema = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('password'),
    id: count,
    credential: z.union([z.strictObject({ password: z.string(), name: z.string() }), z.null(), z.literal('unanswered')]),
  }),
  z.strictObject({
    t: z.literal('quota'), id: count, user: key, client, verdict: z.enum(['ok', 'user', 'total', 'moved']), owner: z.number().int().optional(),
    reserved: z.literal(true).optional(),
  }),
  z.strictObject({ t: z.literal('owner'), client: z.string(), thread: z.number().int().nullable() }),
  z.strictObject({ t: z.literal('gate.ack'), ip: key, username: key }),
  z.strictObject({ t: z.literal('gate.block'), scope: z.enum(['ip', 'username']), key, ms: z.number().min(0) }),
  z.strictObject({ t: z.literal('gate.trust'), ip: key, username: key, ms: z.number().min(0) }),
  /** Relay thread `thread` (re)started: the channel to it, which replaces any older one. */
  z.strictObject({ t: z.literal('peer'), ...peerChannelSchema.shape }),
  z.strictObject({ t: z.literal('stop') }),
  /** Test hook: the thread throws an uncaught error. */
  z.strictObject({ t: z.literal('crash') }),
]);
export type ToThread = z.infer<typeof toThreadSchema>;

/** A datagram one relay thread hands another (its client is the other's), sent at `at` (ms since the epoch). */
export const peerDatagramSchema = z.strictObject({
  buf: bytes,
  address: z.string().max(64),
  port: z.number().int().min(0).max(65535),
  at: z.number(),
});
export type PeerDatagram = z.infer<typeof peerDatagramSchema>;

export function parsePeerDatagram(value: unknown): PeerDatagram | null {
  const result = peerDatagramSchema.safeParse(value);
  return result.success ? result.data : null;
}

export function parseFromThread(value: unknown): FromThread | null {
  const result = fromThreadSchema.safeParse(value);
  return result.success ? result.data : null;
}

export function parseToThread(value: unknown): ToThread | null {
  const result = toThreadSchema.safeParse(value);
  return result.success ? result.data : null;
}
