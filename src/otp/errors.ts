/**
 * The supervisor library's own errors. Their codes are part of the server's
 * one code table (src/errors.ts re-exports them), and `ServerError`
 * recognises them, so users see one kind of error whichever layer threw.
 */
export const SupervisorErrorCode = {
  /** A supervisor gave up: more than `intensity` restarts within `period`. */
  MAX_RESTART_INTENSITY: 'WRS_ERR_MAX_RESTART_INTENSITY',
  /** A child failed to start. */
  CHILD_START: 'WRS_ERR_CHILD_START',
  /** The supervisor is stopping or stopped. */
  NOT_RUNNING: 'WRS_ERR_NOT_RUNNING',
} as const;
export type SupervisorErrorCode = (typeof SupervisorErrorCode)[keyof typeof SupervisorErrorCode];

export class SupervisorError extends Error {
  constructor(
    readonly code: SupervisorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SupervisorError';
  }
}
