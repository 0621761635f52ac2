/**
 * Allocation quotas shared by every TURN relay thread and the main thread's
 * TCP/TLS streams (docs/turn-threads.md): one `AllocationQuota` on the main
 * thread, with what each holder (0: the main thread, 1..N: relay threads)
 * holds, so that a thread that dies gives back its slots at once; and the
 * directory of which thread owns which UDP client ("ip:port"), which the
 * threads copy to forward datagrams the kernel sends them for another
 * thread's client. Bounded: slots and directory entries by the quota's
 * `total`.
 */
import { AllocationQuota } from './quota.js';
import type { QuotaLedger, QuotaLimits } from './quota.js';

export type SharedVerdict = 'ok' | 'user' | 'total' | { moved: number };

export class SharedQuota {
  private readonly quota: AllocationQuota;
  /** holder -> user -> slots held. */
  private readonly held = new Map<number, Map<string, number>>();
  /** UDP client -> holder of its allocation. */
  private readonly owners = new Map<string, number>();

  constructor(limits: QuotaLimits) {
    this.quota = new AllocationQuota(limits);
  }

  /**
   * One slot for `user`, taken by `holder` for `client` (null: a reservation's
   * slot). `fromReservation`: `holder` redeems a reservation of `user`'s, whose
   * slot it holds: that slot becomes `client`'s allocation's (none taken, the
   * directory learns the client); nothing changes unless 'ok'.
   */
  take(holder: number, user: string, client: string | null, fromReservation = false): SharedVerdict {
    if (client !== null) {
      const owner = this.owners.get(client);
      if (owner !== undefined && owner !== holder) return { moved: owner };
    }
    if (fromReservation && (this.held.get(holder)?.get(user) ?? 0) > 0) {
      if (client !== null) this.owners.set(client, holder);
      return 'ok';
    }
    const verdict = this.quota.take(user);
    if (verdict !== 'ok') return verdict;
    let users = this.held.get(holder);
    if (!users) this.held.set(holder, (users = new Map()));
    users.set(user, (users.get(user) ?? 0) + 1);
    if (client !== null) this.owners.set(client, holder);
    return 'ok';
  }

  /** Gives back one slot `holder` took for `user`; true when `client`'s directory entry went with it. */
  release(holder: number, user: string, client: string | null): boolean {
    const users = this.held.get(holder);
    const n = users?.get(user) ?? 0;
    if (n <= 0) return false;
    if (n === 1) users!.delete(user);
    else users!.set(user, n - 1);
    this.quota.release(user);
    if (client === null || this.owners.get(client) !== holder) return false;
    this.owners.delete(client);
    return true;
  }

  /** Gives back everything `holder` held (it died); the clients it owned. */
  releaseAll(holder: number): string[] {
    for (const [user, n] of this.held.get(holder) ?? []) for (let i = 0; i < n; i++) this.quota.release(user);
    this.held.delete(holder);
    const clients: string[] = [];
    for (const [client, owner] of this.owners) if (owner === holder) clients.push(client);
    for (const client of clients) this.owners.delete(client);
    return clients;
  }

  /** The holder of `client`'s allocation. */
  ownerOf(client: string): number | undefined {
    return this.owners.get(client);
  }

  /** The directory now: [client, holder]. */
  directory(): [string, number][] {
    return [...this.owners];
  }

  /** Slots taken in all. */
  get total(): number {
    return this.quota.total;
  }

  /** The ledger of holder 0, the main thread's TCP/TLS streams (synchronous; streams are never forwarded). */
  mainLedger(): QuotaLedger {
    return {
      take: (user, _client, fromReservation) => {
        const verdict = this.take(0, user, null, fromReservation === true);
        return typeof verdict === 'string' ? verdict : 'moved';
      },
      release: (user) => void this.release(0, user, null),
    };
  }
}
