/**
 * Helpers of the relay-thread tests (docs/turn-threads.md): a turn_sup with
 * `turnThreads: 2` over a real server container on 127.0.0.1 (port 0), a
 * relay check both ways through a peer socket, a client's directory key, and
 * one sample of /metrics.
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
