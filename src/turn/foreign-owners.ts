/**
 * Which relay thread owns which UDP client, as one thread knows it (a copy
 * of the main thread's directory, kept by its `owner` messages), and the
 * forwarding of datagrams that reach the wrong thread: when a thread joins
 * the SO_REUSEPORT group again after a restart, the kernel maps some clients
 * to other sockets than before; their datagrams are sent to the thread that
 * holds their allocation, which answers from its own socket (the same
 * address). The same path carries an Allocate that redeems another
 * thread's EVEN-PORT reservation to that thread (`forwardTo`, the thread
 * its RESERVATION-TOKEN names). Bounded: `maxEntries` clients (the oldest forgotten first), and
 * at most `maxInFlight` datagrams in flight to one thread (a counter in
 * memory all threads share: the sender adds, the receiver subtracts);
 * beyond, datagrams are dropped as UDP may drop them. A receiver drops one
 * older than `deadlineMs`.
 */
import type { ForeignClients } from './turn-backend.js';

export interface ForeignOwnersOptions {
  maxEntries: number;
  maxInFlight: number;
  deadlineMs: number;
}

export const FOREIGN_DEFAULTS: Readonly<ForeignOwnersOptions> = Object.freeze({ maxEntries: 100_000, maxInFlight: 1024, deadlineMs: 1_000 });

export class ForeignOwners implements ForeignClients {
  private readonly owners = new Map<string, number>();
  private readonly inFlight: Int32Array;
  /** Datagrams dropped: a full queue to the owner, or too old on arrival. */
  dropped = 0;
  forwardedCount = 0;

  constructor(
    readonly self: number,
    /** Relay threads of the server (1..threads). */
    private readonly threads: number,
    forwarding: SharedArrayBuffer,
    private readonly send: (to: number, buf: Buffer, address: string, port: number) => void,
    private readonly options: ForeignOwnersOptions = FOREIGN_DEFAULTS,
  ) {
    this.inFlight = new Int32Array(forwarding);
  }

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

  /** Sends to thread `to` within its bound of datagrams in flight; beyond, drops it. */
  private push(to: number, buf: Buffer, address: string, port: number): void {
    if (Atomics.add(this.inFlight, to, 1) >= this.options.maxInFlight) {
      Atomics.sub(this.inFlight, to, 1);
      this.dropped++;
      return;
    }
    this.forwardedCount++;
    this.send(to, buf, address, port);
  }

  /**
   * A datagram forwarded to this thread arrived (sent at `at`, ms since the
   * epoch): true when it is still worth handling. Its in-flight slot is freed either way.
   */
  arrived(at: number, now = Date.now()): boolean {
    Atomics.sub(this.inFlight, this.self, 1);
    if (now - at <= this.options.deadlineMs) return true;
    this.dropped++;
    return false;
  }
}
