/**
 * The UDP allocations of one backend by their client's address and port: how
 * the UDP front finds a datagram's allocation without building node-turn's
 * Transport and Address objects and the 5-tuple string (RFC 8656 section 5:
 * over UDP the 5-tuple is the client's source and our one listening
 * address). Two Map lookups, no string built. An entry is added when a UDP
 * allocation is made and removed when it ends, so entries ≤ the backend's
 * live allocations (bounded by the allocation quotas); node-turn's own
 * table stays the authority: `live()` checks an entry against it.
 */
import type { RelayAllocation } from './relay-allocation.js';

export class UdpClients {
  private readonly byAddress = new Map<string, Map<number, RelayAllocation>>();
  private entries = 0;

  get size(): number {
    return this.entries;
  }

  add(address: string, port: number, allocation: RelayAllocation): void {
    let ports = this.byAddress.get(address);
    if (!ports) this.byAddress.set(address, (ports = new Map()));
    if (!ports.has(port)) this.entries++;
    ports.set(port, allocation);
  }

  /** Removes the entry of `allocation` (not a newer one on the same address and port). */
  remove(address: string, port: number, allocation: RelayAllocation): void {
    const ports = this.byAddress.get(address);
    if (ports?.get(port) !== allocation) return;
    ports.delete(port);
    this.entries--;
    if (ports.size === 0) this.byAddress.delete(address);
  }

  /** The allocation of client `address:port` if it is still node-turn's on that 5-tuple. */
  live(address: string, port: number, table: Readonly<Record<string, unknown>>): RelayAllocation | undefined {
    const allocation = this.byAddress.get(address)?.get(port);
    return allocation !== undefined && table[allocation.fiveTuple] === allocation ? allocation : undefined;
  }

  clear(): void {
    this.byAddress.clear();
    this.entries = 0;
  }
}
