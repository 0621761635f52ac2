/**
 * Which relay thread owns which UDP client, as one thread knows it (a copy
 * of the main thread's directory, kept by its `owner` messages), and the
 * forwarding of datagrams that reach the wrong thread: when a thread joins
 * the SO_REUSEPORT group again after a restart, the kernel maps some clients
 * to other sockets than before; their datagrams are sent to the thread that
 * holds their allocation, which answers from its own socket (the same
 * address). The same path carries an Allocate that redeems another
 * thread's EVEN-PORT reservation to that thread (`forwardTo`, the thread
 * its RESERVATION-TOKEN names). Bounded: `maxEntries` clients (the oldest
 * forgotten first); the datagrams go straight to the other thread over
 * their channel (peer-channels.ts: at most 1024 in flight to one thread, 1 s
 * deadline), and one it refuses (full, or no channel to that thread) is
 * dropped as UDP may drop it.
 */
import type { ForeignClients } from './turn-backend.js';

export interface ForeignOwnersOptions {
  maxEntries: number;
}

export const FOREIGN_DEFAULTS: Readonly<ForeignOwnersOptions> = Object.freeze({ maxEntries: 100_000 });

/** Hands a datagram to relay thread `to`; false when it was not sent (its bound, or no channel). */
export type SendToThread = (to: number, buf: Buffer, address: string, port: number) => boolean;

export class ForeignOwners implements ForeignClients {
  private readonly owners = new Map<string, number>();
  /** Datagrams dropped here: the owner's inbox full, or no channel to it. */
  dropped = 0;
  forwardedCount = 0;

  constructor(
    readonly self: number,
    /** Relay threads of the server (1..threads). */
    private readonly threads: number,
    private readonly send: SendToThread,
    private readonly options: ForeignOwnersOptions = FOREIGN_DEFAULTS,
  ) {}

  get size(): number {
    return this.owners.size;
  }

  /** `client` ("ip:port") is owned by thread `thread` now (null: by none). */
  set(client: string, thread: number | null): void {
    this.owners.delete(client);
    if (thread === null || thread === this.self) return;
    this.owners.set(client, thread);
    if (this.owners.size > this.options.maxEntries) this.owners.delete(this.owners.keys().next().value as string);
  }

  forwarded(buf: Buffer, address: string, port: number): boolean {
    const owner = this.owners.get(`${address}:${port}`);
    if (owner === undefined) return false;
    this.push(owner, buf, address, port);
    return true;
  }

  forwardTo(thread: number, buf: Buffer, address: string, port: number): boolean {
    if (!Number.isInteger(thread) || thread < 1 || thread > this.threads || thread === this.self) return false;
    this.push(thread, buf, address, port);
    return true;
  }

  /** Sends to thread `to`; a datagram it cannot take now is dropped. */
  private push(to: number, buf: Buffer, address: string, port: number): void {
    if (this.send(to, buf, address, port)) this.forwardedCount++;
    else this.dropped++;
  }
}
