/**
 * The small IPC face of the bench's own server processes (ours, the bare
 * relay): they announce `{op: 'listening', port}`, and answer `usage`
 * (cpu, memory; after a GC when `gc` is set and --expose-gc was given) and
 * `stop`. A server whose parent goes away exits.
 */
export interface UsageReply {
  op: 'usage';
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The soak target's answer to `probe` (bench/targets/soak.ts). */
export interface ProbeReply {
  op: 'probe';
  /** True when a GC ran before the figures were read. */
  gc: boolean;
  /** Event-loop delay since the previous probe (monitorEventLoopDelay, 10 ms resolution). */
  lag: { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  /** process.getActiveResourcesInfo() counted by type (`Timeout`, `TCPSocketWrap`, `UDPWrap`…). */
  resources: Record<string, number>;
  /** Every timer scheduled, ref'd or not (Node's timer lists; needs --expose-internals), else null. */
  timers: number | null;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export type TargetRequest = { op: 'usage'; gc?: boolean } | { op: 'stop' };

export function serveIpc(stop: () => Promise<void>): void {
  const send = (message: unknown) => process.send?.(message);
  process.on('message', (raw) => {
    const message = raw as TargetRequest;
    if (message.op === 'usage') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (message.gc && gc) gc();
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      const reply: UsageReply = {
        op: 'usage',
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
      };
      send(reply);
    } else if (message.op === 'stop') {
      const force = setTimeout(() => process.exit(0), 5_000);
      force.unref();
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }
  });
  // Bounded life: the orchestrator going away takes its servers with it.
  process.on('disconnect', () => process.exit(0));
}

/** `turnPort`: our server's STUN/TURN UDP port, when TURN is on; `extra`: more to say (the soak target's metricsPort). */
export function announce(port: number, turnPort: number | null = null, extra: Record<string, unknown> = {}): void {
  process.send?.({ ...extra, op: 'listening', port, turnPort });
}
