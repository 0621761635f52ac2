/**
 * Who may open a signaling socket: the `Origin` check (`allowedOrigins`) and
 * the connection caps (`maxConnectionsPerIp`, `maxConnections`). Sockets are
 * counted from the moment they connect (still upgrading) until they close,
 * so a flood of half-open or idle connections counts as much as open
 * WebSockets. The listener turns a refusal into an HTTP status at the
 * upgrade (403, 429, 503). No I/O here: counting and deciding only.
 */
import type { Socket } from 'node:net';
import type { RefusalReason } from '../observability/metrics.js';

export interface AdmissionLimits {
  /** null: any origin. */
  readonly allowedOrigins: readonly string[] | null;
  readonly maxConnections: number;
  /** Infinity: no limit. */
  readonly maxConnectionsPerIp: number;
}

export interface Refusal {
  status: 403 | 429 | 503;
  reason: RefusalReason;
}

const REFUSED = {
  origin: { status: 403, reason: 'origin' },
  perIp: { status: 429, reason: 'per_ip' },
  total: { status: 503, reason: 'total' },
} as const satisfies Record<string, Refusal>;

export class Admission {
  private readonly perIp = new Map<string, number>();
  private total = 0;
  /** Sockets counted, so each is counted once and released once. */
  private readonly counted = new WeakSet<Socket>();
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(private readonly limits: AdmissionLimits) {
    this.anyOrigin = limits.allowedOrigins === null || limits.allowedOrigins.includes('*');
    this.origins = new Set(limits.allowedOrigins ?? []);
  }

  /**
   * Counts `socket` from now until it closes. Returns the refusal when it
   * is one too many (it is counted all the same until it closes).
   */
  count(socket: Socket): Refusal | null {
    if (!this.counted.has(socket)) {
      this.counted.add(socket);
      const ip = socket.remoteAddress ?? '';
      this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
      this.total++;
      socket.once('close', () => this.release(ip));
    }
    return this.overLimit(socket);
  }

  /** The refusal for an upgrade from `socket` with this `Origin`, or null to accept it. */
  check(socket: Socket, origin: string | undefined): Refusal | null {
    // Browsers always send Origin; its absence means a non-browser client, which the check is not about.
    if (!this.anyOrigin && origin !== undefined && !this.origins.has(origin.toLowerCase())) return REFUSED.origin;
    return this.overLimit(socket);
  }

  /** Sockets counted from `ip`, and in all (for tests and the admin view). */
  connections(ip?: string): number {
    return ip === undefined ? this.total : (this.perIp.get(ip) ?? 0);
  }

  private overLimit(socket: Socket): Refusal | null {
    if ((this.perIp.get(socket.remoteAddress ?? '') ?? 0) > this.limits.maxConnectionsPerIp) return REFUSED.perIp;
    if (this.total > this.limits.maxConnections) return REFUSED.total;
    return null;
  }

  private release(ip: string): void {
    this.total--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}
