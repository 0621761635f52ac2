/**
 * Process-wide guards for a process that runs a server: the daemon installs
 * them; an embedder may opt in. The library itself (`startServer`, `attach`)
 * never installs process-wide handlers.
 *
 * - An `unhandledRejection` or `uncaughtException` (say, a stray promise or a
 *   throwing timer in a `join` callback) is logged at error with the error,
 *   counted in `webrtc_process_errors_total{kind}`, and contained: the server
 *   keeps serving.
 * - Like an OTP supervisor's restart intensity, more than `intensity` such
 *   errors within `periodMs` is fatal: a fatal line, then `onFatal` (default:
 *   drain with `server.stop()`, forced after `drainTimeoutMs`, and exit with
 *   `exitCode`, 70 = EX_SOFTWARE).
 * - A process exit while the guards are installed is not ours (we uninstall
 *   before exiting on purpose): user code called `process.exit()`, or the
 *   event loop ran dry. It is logged at fatal, and an exit status of 0 becomes
 *   `exitCode`, so a supervisor such as systemd (`Restart=on-failure`) sees a
 *   failure. The line is written from the `exit` event, so give a logger with
 *   a synchronous destination (`pino.destination({ sync: true })`).
 */
import type { Logger } from 'pino';
import { RestartIntensity } from './otp/worker.js';
import { PROCESS_ERRORS } from './observability/metrics.js';
import type { ProcessErrorKind, ProcessErrorTally } from './observability/metrics.js';

/** sysexits.h EX_SOFTWARE: internal software error. */
export const EX_SOFTWARE = 70;

export const PROCESS_GUARD_DEFAULTS = {
  intensity: 5,
  periodMs: 60_000,
  drainTimeoutMs: 60_000,
  exitCode: EX_SOFTWARE,
} as const;

export interface ProcessGuardOptions {
  /** Uncaught errors tolerated within `periodMs`; one more is fatal (default 5). */
  intensity?: number;
  /** The window of `intensity`, in ms (default 60 000). */
  periodMs?: number;
  /** Exit status after a fatal error, and instead of 0 when the process exits behind our back (default 70). */
  exitCode?: number;
  /** For the default `onFatal`: ms `server.stop()` may take before the process exits anyway (default 60 000). */
  drainTimeoutMs?: number;
  /**
   * Called once, when the errors exceed the intensity. Default: drain with
   * `server.stop()` and exit with `exitCode` (the guards are uninstalled
   * first). Errors after it are still logged and contained.
   */
  onFatal?: (err: unknown) => void;
  /** Where errors are counted (default: the process-wide tally every server's `/metrics` reports). */
  tally?: ProcessErrorTally;
}

/** What the guards stop on a fatal error. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Installs the guards; returns the function that removes them (call it before exiting on purpose). */
export function installProcessGuards(server: Stoppable, logger: Logger, options: ProcessGuardOptions = {}): () => void {
  const intensity = options.intensity ?? PROCESS_GUARD_DEFAULTS.intensity;
  const periodMs = options.periodMs ?? PROCESS_GUARD_DEFAULTS.periodMs;
  const exitCode = options.exitCode ?? PROCESS_GUARD_DEFAULTS.exitCode;
  const drainTimeoutMs = options.drainTimeoutMs ?? PROCESS_GUARD_DEFAULTS.drainTimeoutMs;
  const tally = options.tally ?? PROCESS_ERRORS;
  const budget = new RestartIntensity(intensity, periodMs);
  let fatal = false;
  let loopRanDry = false;
  let installed = true;

  const uninstall = (): void => {
    if (!installed) return;
    installed = false;
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
    process.off('beforeExit', onBeforeExit);
    process.off('exit', onExit);
  };

  const defaultFatal = (): void => {
    const force = setTimeout(() => {
      logger.fatal({ drainTimeoutMs }, 'drain after fatal errors took too long, exiting now');
      uninstall();
      process.exit(exitCode);
    }, drainTimeoutMs);
    force.unref();
    server.stop().then(
      () => {
        uninstall();
        process.exit(exitCode);
      },
      (err: unknown) => {
        logger.fatal({ err }, 'error while draining after fatal errors');
        uninstall();
        process.exit(exitCode);
      },
    );
  };

  const contain = (kind: ProcessErrorKind, err: unknown): void => {
    tally.add(kind);
    const what = kind === 'unhandled_rejection' ? 'unhandled promise rejection' : 'uncaught exception';
    if (fatal) {
      logger.error({ err, kind }, `${what} while draining (contained)`);
      return;
    }
    if (budget.add()) {
      logger.error({ err, kind, intensity, periodMs }, `${what} (contained; more than ${intensity} within ${periodMs} ms is fatal)`);
      return;
    }
    fatal = true;
    logger.fatal(
      { err, kind, intensity, periodMs, exitCode },
      `${what}: more than ${intensity} uncaught errors within ${periodMs} ms, draining and exiting with status ${exitCode}`,
    );
    (options.onFatal ?? defaultFatal)(err);
  };

  const onRejection = (reason: unknown): void => contain('unhandled_rejection', reason);
  const onException = (err: Error): void => contain('uncaught_exception', err);
  const onBeforeExit = (): void => {
    loopRanDry = true;
  };
  const onExit = (code: number): void => {
    const status = code === 0 ? exitCode : code;
    const msg = loopRanDry
      ? `the event loop ran dry while the server was running; exiting with status ${status}`
      : `user code called process.exit(${code}) while the server was running (not through its drain); exiting with status ${status}`;
    logger.fatal({ code, exitCode: status }, msg);
    if (code === 0) process.exitCode = exitCode;
  };

  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  process.on('beforeExit', onBeforeExit);
  process.on('exit', onExit);
  return uninstall;
}
