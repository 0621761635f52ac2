/**
 * A TCP proxy on 127.0.0.1 in front of a server, for tests that need the
 * network to fail: `drop()` cuts every connection (the client sees 1006, as
 * when a server's socket dies), `freeze()` stops forwarding on the open
 * connections in both ways while keeping them open (a dead line: nothing
 * arrives, nothing is closed). New connections are forwarded as usual.
 * `latencyMs` delays every chunk by that much in each direction (order kept).
 */
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly frozen = new WeakSet<Socket>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
    private readonly latencyMs: number,
  ) {}

  static async start(targetPort: number, latencyMs = 0): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, targetPort, latencyMs);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private accept(client: Socket): void {
    this.accepted++;
    const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (this.frozen.has(from)) return;
        if (this.latencyMs === 0) to.write(chunk);
        else setTimeout(() => to.destroyed || to.write(chunk), this.latencyMs);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** Destroys every open connection. */
  drop(): void {
    for (const [a, b] of [...this.pairs]) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Stops forwarding on the open connections (bytes are read and thrown away); they stay open. */
  freeze(): void {
    for (const [a, b] of this.pairs) {
      this.frozen.add(a);
      this.frozen.add(b);
    }
  }

  get open(): number {
    return this.pairs.size;
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
