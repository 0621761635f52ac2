/**
 * Coalesces the frames a socket gets within one tick into one write: the
 * first delivery to a socket in a tick corks it, and one callback on the next
 * tick uncorks every corked socket. A burst of frames fanned out to a member
 * then leaves in one `writev` instead of one per frame. One per server; no
 * closure or timer per frame.
 */
import type { Socket } from 'node:net';

export class WriteCoalescer {
  private corked: Socket[] = [];
  private scheduled = false;
  private readonly flush = (): void => {
    this.scheduled = false;
    const sockets = this.corked;
    this.corked = [];
    for (const socket of sockets) socket.uncork();
  };

  /** Corks `socket` until the next tick, unless it is corked already. */
  hold(socket: Socket): void {
    if (socket.writableCorked > 0) return;
    socket.cork();
    this.corked.push(socket);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }
}
