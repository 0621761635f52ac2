/**
 * Which client streams TURN takes: at most `max` open in all and `perIp`
 * from one source IP, counted from the TCP connection on (a TLS stream
 * before its handshake), until the socket closes. Bounded: one map entry
 * per source IP with an open stream. No node-turn.
 */
import type { Socket } from 'node:net';

export class StreamAdmission {
  private open = 0;
  private readonly perSource = new Map<string, number>();
  private readonly counted = new WeakSet<Socket>();

  constructor(
    private readonly max: number,
    private readonly perIp: number,
  ) {}

  /** Streams counted now. */
  get size(): number {
    return this.open;
  }

  /** Source IPs with a stream counted (at most `size`). */
  get sources(): number {
    return this.perSource.size;
  }

  /**
   * Counts `socket` until it closes, if there is room: true when admitted
   * (or already counted), false when over a cap (the caller closes it).
   */
  admit(socket: Socket): boolean {
    if (this.counted.has(socket)) return true;
    const ip = socket.remoteAddress ?? '';
    const fromIp = this.perSource.get(ip) ?? 0;
    if (this.open >= this.max || fromIp >= this.perIp) return false;
    this.counted.add(socket);
    this.open++;
    this.perSource.set(ip, fromIp + 1);
    socket.once('close', () => {
      this.open--;
      const left = (this.perSource.get(ip) ?? 1) - 1;
      if (left <= 0) this.perSource.delete(ip);
      else this.perSource.set(ip, left);
    });
    return true;
  }
}
