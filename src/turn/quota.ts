/**
 * Allocation quotas (RFC 8656 section 7.2: 486 Allocation Quota Reached per
 * user, 508 Insufficient Capacity for the server). Counts live allocations
 * and allocations being set up.
 */
export interface QuotaLimits {
  /** Most allocations one user (by room-visible name) may hold. */
  perUser: number;
  /** Most allocations in all. */
  total: number;
}

/** Why a slot was not taken: a limit, or (relay threads) another thread owns the client. */
export type QuotaVerdict = 'ok' | 'user' | 'total' | 'moved' | 'timeout';

/**
 * Where the adapter takes and gives back allocation slots: an
 * `AllocationQuota` of its own (TURN on one thread), or the main thread's
 * (relay threads: src/turn/shared-quota.ts), which answers asynchronously.
 * `client` is the client's transport address ("ip:port") for an allocation,
 * null for the second slot an EVEN-PORT reservation holds. `fromReservation`:
 * `user` redeems their own reservation, whose slot becomes this allocation's
 * (none taken; relay threads: the directory learns who owns `client`); on
 * any verdict but 'ok' that slot is given back (the reservation is spent).
 */
export interface QuotaLedger {
  take(user: string, client: string | null, fromReservation?: boolean): QuotaVerdict | Promise<QuotaVerdict>;
  release(user: string, client: string | null): void;
}

export class AllocationQuota implements QuotaLedger {
  private readonly perUser = new Map<string, number>();
  private count = 0;

  constructor(private readonly limits: QuotaLimits) {}

  /** Takes one allocation for `user`: 'ok', or which limit refused it. */
  take(user: string, _client: string | null = null, fromReservation = false): 'ok' | 'user' | 'total' {
    if (fromReservation) return 'ok'; // the reservation's slot, counted already
    const held = this.perUser.get(user) ?? 0;
    if (held >= this.limits.perUser) return 'user';
    if (this.count >= this.limits.total) return 'total';
    this.perUser.set(user, held + 1);
    this.count++;
    return 'ok';
  }

  release(user: string, _client: string | null = null): void {
    const held = this.perUser.get(user) ?? 0;
    if (held <= 0) return;
    if (held === 1) this.perUser.delete(user);
    else this.perUser.set(user, held - 1);
    this.count--;
  }

  get total(): number {
    return this.count;
  }

}
