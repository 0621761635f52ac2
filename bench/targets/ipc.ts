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

/** `turnPort`: our server's STUN/TURN UDP port, when TURN is on. */
export function announce(port: number, turnPort: number | null = null): void {
  process.send?.({ op: 'listening', port, turnPort });
}
