/**
 * Injection tokens. Classes are resolved with `@inject(TOKEN)` only (no
 * decorator metadata), so the code works whatever transpiles it. Each server
 * lives in its own tsyringe child container: nothing is shared between two
 * servers of one process.
 */
import type { InjectionToken } from 'tsyringe';
import type { Logger } from 'pino';
import type { ResolvedOptions } from '../options.js';
import type { Clock } from '../clock.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { GuessThrottle } from '../auth/guess-throttle.js';
import type { CallbackRunner } from '../rooms/callback-runner.js';
import type { RoomBus } from '../rooms/room-bus.js';
import type { NameRegistry } from '../otp/registry.js';
import type { ActorFactory } from '../actor-factory.js';
import type { AnyHttpServer, ServerApi } from '../api.js';
import type { LoginListener } from '../auth/logins.js';
import type { Lifecycle } from '../lifecycle.js';
import type { ClusterRoomBus } from '../cluster/cluster-room-bus.js';
import type { TurnLimits } from '../turn/limits.js';
import type { TurnCredentialCache } from '../turn/credential-cache.js';
import type { RelayHub } from '../turn/relay-hub.js';
import type { Metrics } from '../observability/metrics.js';
import type { Inspection } from '../observability/inspector.js';
import type { SupervisorObserver } from '../otp/worker.js';

export const OPTIONS: InjectionToken<ResolvedOptions> = Symbol('options');
export const LOGGER: InjectionToken<Logger> = Symbol('logger');
export const CLOCK: InjectionToken<Clock> = Symbol('clock');
export const AUTHENTICATOR: InjectionToken<Authenticator> = Symbol('authenticator');
/** Failed password checks per source IP and username, shared by signaling and TURN. */
export const GUESS_THROTTLE: InjectionToken<GuessThrottle> = Symbol('guessThrottle');
export const CALLBACK_RUNNER: InjectionToken<CallbackRunner> = Symbol('callbackRunner');
export const ROOM_BUS: InjectionToken<RoomBus> = Symbol('roomBus');
export const REGISTRY: InjectionToken<NameRegistry> = Symbol('registry');
export const ACTOR_FACTORY: InjectionToken<ActorFactory> = Symbol('actorFactory');
/** The user's http(s) server; registered only when attached (`attach`). */
export const ATTACH_TO: InjectionToken<AnyHttpServer> = Symbol('attachTo');
export const METRICS: InjectionToken<Metrics> = Symbol('metrics');
/** Told of supervisor restarts and changes (metrics, inspector). */
export const SUPERVISOR_OBSERVER: InjectionToken<SupervisorObserver> = Symbol('supervisorObserver');
/** The running root supervisor and whether the server drains. */
export const LIFECYCLE: InjectionToken<Lifecycle> = Symbol('lifecycle');
export const SERVER_API: InjectionToken<ServerApi> = Symbol('serverApi');
/** The inspector link; registered only when `inspect` is on. */
export const INSPECTION: InjectionToken<Inspection> = Symbol('inspection');
/** TURN's credential cache: outlives a restart of the TURN listener. */
export const TURN_CREDENTIALS: InjectionToken<TurnCredentialCache> = Symbol('turnCredentials');
/** The TURN relay threads' hub; registered only when `turnThreads` resolves to more than 0. */
export const RELAY_HUB: InjectionToken<RelayHub> = Symbol('relayHub');
/** TURN's limits against abuse given by the environment (benches, tests); registered only when given. */
export const TURN_LIMITS: InjectionToken<Partial<TurnLimits>> = Symbol('turnLimits');
/** The cluster room bus; registered only with `redisUrl`. */
export const CLUSTER: InjectionToken<ClusterRoomBus> = Symbol('cluster');
/** Told of every successful signaling login (the signaling-TURN seam). */
export const LOGINS: InjectionToken<LoginListener> = Symbol('logins');
