/**
 * webrtc-server: signaling (WebSocket) and STUN/TURN for WebRTC calls.
 * The sole public entry point.
 */
import 'reflect-metadata';
import { startApplication } from '../supervisors/app.js';
import type { AppEnvironment, ServerHandle } from '../supervisors/app.js';
import type { Options } from './options.js';
import type { AnyHttpServer } from './signaling/listener.js';

/** Starts a server that listens on its own port (see INTERFACE.md). */
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
export type { Health, PeerSummary, ServerApi } from './server-api.js';
export { Supervisor } from '../supervisors/supervisor.js';
export type { ChildInfo, Strategy, SupervisorFlags } from '../supervisors/supervisor.js';
export { DynamicSupervisor } from '../supervisors/dynamic_supervisor.js';
export type { ChildSpec, ExitReason, RestartType, Worker } from '../supervisors/worker.js';
export { DEFAULTS, OPTION_NAMES, parseOptions } from './options.js';
export type { AuthOption, Callbacks, CallbacksOption, LifecycleCallback, LogLevel, Options, PasswordLookup, ResolvedOptions } from './options.js';
export { CloseCode, ErrorCode, ServerError } from './errors.js';
export { restPassword } from './auth/authenticator.js';
export type { AnyHttpServer } from './signaling/listener.js';
export { EX_SOFTWARE, installProcessGuards, PROCESS_GUARD_DEFAULTS } from './process-guard.js';
export type { ProcessGuardOptions, Stoppable } from './process-guard.js';
