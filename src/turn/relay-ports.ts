/**
 * Relay sockets: UDP sockets on random free ports of `relayPorts` (RFC 6056
 * style random selection), EVEN-PORT, and the port reservations of
 * RFC 8656 section 7.2 (EVEN-PORT with R set reserves N+1 behind a
 * RESERVATION-TOKEN for 30 s, for RTP/RTCP pairs). Owns every socket it
 * opens until it is handed over or `closeAll()` runs: nothing here outlives a stop.
 * A reservation belongs to the user who made it: it holds one of their
 * allocation quota slots, given back (`onReservationEnded`) when it expires
 * or is closed; a redeemed one hands its slot to the new allocation.
 * Its token names the thread that holds it (reservation-token.ts): another
 * relay thread forwards a redeeming Allocate here. No node-turn.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { literalLookup } from './literal-lookup.js';
import { newReservationToken } from './reservation-token.js';

/** Binding attempts for one relay before giving up (508). */
const BIND_ATTEMPTS = 50;
/** RFC 8656 section 7.2: a reservation lasts about 30 seconds. */
export const RESERVATION_MS = 30_000;

export interface RelayPortsConfig {
  bindHost: string;
  range: readonly [number, number];
  /** The thread these ports belong to, named by their tokens (0: the main thread; 1..N: a relay thread). */
  thread?: number;
  /** Most reservations held at once. */
  maxReservations: number;
  /** How long a reservation lasts, ms (default RESERVATION_MS). */
  reservationMs?: number;
  /** A reservation of `owner` expired or was closed unredeemed (its quota slot is free). */
  onReservationEnded?: (owner: string) => void;
}

interface Reservation {
  socket: Socket;
  timer: NodeJS.Timeout;
  owner: string;
}

export class RelayPorts {
  /** Sockets opened here and not yet handed over (binding, or reserved). */
  private readonly owned = new Set<Socket>();
  /** Token (8 ASCII characters, the first naming this thread) -> reserved socket. */
  private readonly reservations = new Map<string, Reservation>();
  private closed = false;

  constructor(private readonly config: RelayPortsConfig) {}

  /**
   * A bound relay socket, handed over to the caller. `even`: an even port;
   * `reserveNext` (EVEN-PORT R bit): also reserve the next port for `owner`,
   * returning its token (none when `maxReservations` are held already).
   */
  async acquire(even: boolean, reserveNext: boolean, owner = ''): Promise<{ socket: Socket; token?: string }> {
    const [lo, hi] = this.config.range;
    const span = hi - lo + 1;
    for (let attempt = 0; attempt < Math.min(span, BIND_ATTEMPTS); attempt++) {
      let port = lo + randomInt(span);
      if (even || reserveNext) port -= port % 2;
      if (port < lo || (reserveNext && port + 1 > hi)) continue;
      const socket = await this.tryBind(port);
      if (!socket) continue;
      if (!reserveNext) return this.handOver(socket);
      const next = await this.tryBind(port + 1);
      if (!next) {
        this.close(socket);
        continue;
      }
      if (this.reservations.size >= this.config.maxReservations) {
        this.close(next);
        return this.handOver(socket);
      }
      return { ...this.handOver(socket), token: this.reserve(next, owner) };
    }
    throw new Error('no free relay port');
  }

  /** Who holds the reservation `token`, if it is held. */
  ownerOf(token: string): string | undefined {
    return this.reservations.get(token)?.owner;
  }

  /** The socket reserved under `token` (handed over), or null when there is none. */
  redeem(token: string): Socket | null {
    const reservation = this.reservations.get(token);
    if (!reservation) return null;
    this.reservations.delete(token);
    clearTimeout(reservation.timer);
    return this.handOver(reservation.socket).socket;
  }

  /** Sockets still owned here (binding or reserved). */
  get open(): number {
    return this.owned.size;
  }

  /** Closes every socket still owned here and clears every timer. */
  closeAll(): void {
    this.closed = true;
    const owners = [...this.reservations.values()].map(({ timer, owner }) => {
      clearTimeout(timer);
      return owner;
    });
    this.reservations.clear();
    for (const owner of owners) this.config.onReservationEnded?.(owner);
    for (const socket of [...this.owned]) this.close(socket);
  }

  close(socket: Socket): void {
    this.owned.delete(socket);
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  private handOver(socket: Socket): { socket: Socket } {
    this.owned.delete(socket);
    return { socket };
  }

  private reserve(socket: Socket, owner: string): string {
    const token = newReservationToken(this.config.thread ?? 0);
    const timer = setTimeout(() => {
      this.reservations.delete(token);
      this.close(socket);
      this.config.onReservationEnded?.(owner);
    }, this.config.reservationMs ?? RESERVATION_MS);
    this.reservations.set(token, { socket, timer, owner });
    return token;
  }

  /** The socket bound to `port`, or null when the port is taken. */
  private async tryBind(port: number): Promise<Socket | null> {
    if (this.closed) throw new Error('relay ports closed');
    const socket = createSocket({ type: 'udp4', lookup: literalLookup });
    this.owned.add(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: this.config.bindHost, port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.close(socket);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && !this.closed) return null;
      throw err;
    }
    if (this.closed) {
      this.close(socket);
      throw new Error('relay ports closed');
    }
    return socket;
  }
}
