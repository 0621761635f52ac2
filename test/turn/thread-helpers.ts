/**
 * Helpers of the relay-thread tests (docs/turn-threads.md): a turn_sup with
 * `turnThreads: 2` over a real server container on 127.0.0.1 (port 0), a
 * relay check both ways through a peer socket, a client's directory key, one
 * sample of /metrics, and a watch on what the main thread's hub is told.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { DependencyContainer } from 'tsyringe';
import { REGISTRY, RELAY_HUB } from '../../src/di/tokens.js';
import { TURN_LISTENER_NAME } from '../../src/names.js';
import type { Options } from '../../src/options.js';
import type { Supervisor } from '../../src/otp/supervisor.js';
import type { TurnLimits } from '../../src/turn/limits.js';
import type { RelayHub } from '../../src/turn/relay-hub.js';
import type { FromThread } from '../../src/turn/relay-thread-protocol.js';
import { reusePortAvailable } from '../../src/turn/reuse-port.js';
import { StunClass } from '../../src/turn/stun.js';
import type { TurnListener } from '../../src/turn/turn-listener.js';
import { buildContainer, tree } from '../../supervisors/composition.js';
import type { RawTurnClient, UdpEndpoint } from './helpers.js';

export const THREAD_BASE: Options = { host: '127.0.0.1', port: 0, turnPort: 0, logLevel: 'silent', allowLoopbackPeers: true, turnThreads: 2 };
export const THREAD_USERS = { alice: 'alice-pw', bob: 'bob-pw' };
/** The skip reason of a relay-thread suite: false where this Node can run them. */
export const threadsSkip = (await reusePortAvailable()) ? false : 'this Node has no SO_REUSEPORT for UDP (relay threads need >= 22.12)';

export interface Running {
  c: DependencyContainer;
  sup: Supervisor;
  hub: RelayHub;
  server: { address: string; port: number };
  listener: () => TurnListener | undefined;
}

/**
 * A challenge budget no test here runs out of: with the default (16 per IP, split over the
 * threads) a test opening many clients from 127.0.0.1 would depend on how the kernel spreads them.
 */
export const ROOMY_CHALLENGES: Partial<TurnLimits> = { challengeBurst: 256, challengePerSecond: 256 };

export async function startThreads(options: Options = {}, turnLimits: Partial<TurnLimits> = ROOMY_CHALLENGES): Promise<Running> {
  const c = await buildContainer({ ...THREAD_BASE, auth: { users: THREAD_USERS }, ...options }, { turnLimits });
  const sup = (await tree(c).turnSup.start()) as Supervisor;
  const listener = () => c.resolve(REGISTRY).whereis<TurnListener>(TURN_LISTENER_NAME);
  const a = listener()!.address()!;
  return { c, sup, hub: c.resolve(RELAY_HUB), server: { address: a.host, port: a.port }, listener };
}

/** Client -> peer (Send indication) and peer -> client (Data indication) through `client`'s allocation. */
export async function relaysBothWays(client: RawTurnClient, peer: UdpEndpoint, text: string): Promise<void> {
  assert.equal((await client.createPermission(peer.address)).cls, StunClass.SUCCESS);
  client.sendIndication(peer.address, Buffer.from(text));
  const got = await peer.next((d) => d.data.toString() === text);
  peer.send(Buffer.from(`re:${text}`), { address: got.from.address, port: got.from.port });
  const back = await client.nextDataIndication();
  assert.equal(back.data.toString(), `re:${text}`);
}

/** The client's key in the threads' directory ("ip:port"). */
export function clientKey(client: RawTurnClient): string {
  return `${client.udp.address.address}:${client.udp.address.port}`;
}

/** The value of one series in a /metrics text (0 when absent). */
export function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** What the hub was told by the threads since `watchHub`: messages by kind, and those carrying bytes (a datagram). */
export interface HubWatch {
  kinds: Map<string, number>;
  withBytes: number;
}

/**
 * Counts every message the hub takes from a relay thread (its one entry,
 * `fromThread`): forwarded datagrams go thread to thread, so no message
 * carrying bytes may reach it, and no kind but the control ones.
 */
export function watchHub(hub: RelayHub): HubWatch {
  const watch: HubWatch = { kinds: new Map(), withBytes: 0 };
  const handle = hub.fromThread.bind(hub);
  hub.fromThread = (index: number, m: FromThread) => {
    watch.kinds.set(m.t, (watch.kinds.get(m.t) ?? 0) + 1);
    if (Object.values(m).some((v) => v instanceof Uint8Array)) watch.withBytes++;
    handle(index, m);
  };
  return watch;
}

/** The kinds of message a thread sends the hub: none carries a datagram. */
export const CONTROL_KINDS = new Set(['ready', 'password', 'quota.take', 'quota.release', 'gate.admit', 'gate.succeeded', 'events', 'log']);

/** The hub saw only control messages: no datagram passed through the main thread. */
export function assertMainOffDataPath(watch: HubWatch): void {
  assert.equal(watch.withBytes, 0, 'no message carrying a datagram reached the main thread');
  for (const kind of watch.kinds.keys()) assert.ok(CONTROL_KINDS.has(kind), `the hub was sent '${kind}'`);
}
