/**
 * webrtc-server: signaling (WebSocket) and STUN/TURN for WebRTC calls.
 * The sole public entry point.
 */
import 'reflect-metadata';
import { startApplication } from '../supervisors/app.js';
import type { AppEnvironment, ServerHandle } from '../supervisors/app.js';
import type { Options } from './options.js';
import type { AnyHttpServer } from './api.js';

/** Starts a server that listens on its own port (see docs/configuration.md). */
export function startServer(options: Options = {}, env: Omit<AppEnvironment, 'attachTo'> = {}): Promise<ServerHandle> {
  return startApplication(options, env);
}

/**
 * Mounts `/websocket/:room` on the user's own http or https server. Their
 * other routes and other WebSocket upgrade paths keep working. The server
 * need not be listening yet; `stop()` detaches and never closes it.
 */
export function attach(server: AnyHttpServer, options: Options = {}, env: Omit<AppEnvironment, 'attachTo'> = {}): Promise<ServerHandle> {
  return startApplication(options, { ...env, attachTo: server });
}

export { rootSupervisorSpec } from '../supervisors/app.js';
export type { AppEnvironment, ServerHandle } from '../supervisors/app.js';
export type { AnyHttpServer, Health, PeerSummary, ServerApi, TlsReload, TurnAddresses } from './api.js';
export { Supervisor } from './otp/supervisor.js';
export type { ChildInfo, Strategy, SupervisorFlags } from './otp/supervisor.js';
export { DynamicSupervisor } from './otp/dynamic-supervisor.js';
export type { ChildSpec, ExitReason, RestartType, Worker } from './otp/worker.js';
export { DEFAULTS, OPTION_NAMES, parseOptions } from './options.js';
export type { AuthOption, Callbacks, CallbacksOption, LifecycleCallback, LogFormat, LogLevel, Options, PasswordLookup, ResolvedOptions } from './options.js';
export { CloseCode, ErrorCode, ServerError } from './errors.js';
export { restPassword } from './auth/authenticator.js';
export { EX_SOFTWARE, installProcessGuards, PROCESS_GUARD_DEFAULTS } from './process-guard.js';
export type { ProcessGuardOptions, Stoppable } from './process-guard.js';
