/** How often a cluster node says it is alive, and after how long a silent node counts as dead. */
export interface ClusterTiming {
  heartbeatMs: number;
  expiryMs: number;
}

/** A dead server's members are gone from their rooms within expiry + one heartbeat: 12 s (the bound is 15 s). */
export const CLUSTER_TIMING: Readonly<ClusterTiming> = Object.freeze({ heartbeatMs: 2_000, expiryMs: 10_000 });
