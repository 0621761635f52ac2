import { SupervisorError, SupervisorErrorCode } from './otp/errors.js';

/**
 * One table of every error code the server produces, and the WebSocket close
 * code each protocol fault maps to (docs/protocol.md, "Close codes").
 */

/** WebSocket close codes used by the signaling protocol. */
export const CloseCode = {
  /** Idle timeout or authentication deadline. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** Policy: too many failed authentications, rate limit, kicked by an administrator, slow consumer. */
  POLICY: 1008,
  /** A frame larger than `maxMessageBytes`. */
  TOO_BIG: 1009,
  /** Internal error (for example the room actor crashed). */
  INTERNAL: 1011,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Reason strings sent with each close (at most 123 bytes by RFC 6455). */
export const CloseReason = {
  AUTH_TIMEOUT: 'authentication timeout',
  IDLE_TIMEOUT: 'idle timeout',
  AUTH_ATTEMPTS: 'too many failed authentication attempts',
  RATE_LIMIT: 'rate limit exceeded',
  SHUTDOWN: 'server shutting down',
  KICKED: 'kicked by an administrator',
  SLOW_CONSUMER: 'too many frames waiting to be sent',
  ROOM_CRASHED: 'room failed',
  INTERNAL: 'internal error',
} as const;

/** Codes of errors thrown to users of the library and CLI (the supervisor library's included). */
export const ErrorCode = {
  INVALID_OPTION: 'WRS_ERR_INVALID_OPTION',
  CONFIG_FILE: 'WRS_ERR_CONFIG_FILE',
  AUTH_MODULE: 'WRS_ERR_AUTH_MODULE',
  CALLBACKS_MODULE: 'WRS_ERR_CALLBACKS_MODULE',
  LISTEN: 'WRS_ERR_LISTEN',
  ...SupervisorErrorCode,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every error the library throws on purpose carries one of the codes above.
 * The supervisor library (src/otp) throws its own `SupervisorError`, which
 * counts as a ServerError too (`instanceof`), so users catch one kind.
 */
export class ServerError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof SupervisorError || (typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(ServerError.prototype, value));
  }

  readonly code: ErrorCode;
  /** The option the error is about, when there is one. */
  readonly option: string | undefined;

  constructor(code: ErrorCode, message: string, details: { option?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ServerError';
    this.code = code;
    this.option = details.option;
  }
}
