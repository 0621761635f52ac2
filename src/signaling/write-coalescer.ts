/**
 * Coalesces the frames a socket gets within one turn of the event loop into
 * one write: the first delivery to a socket corks it, and one callback at the
 * end of the turn (`setImmediate`: the check phase, after every I/O callback
 * of the poll phase) uncorks every corked socket. Frames from different
 * senders read in the same turn (a burst of candidates, a busy room) then
 * leave in one `writev` per recipient instead of one write each; the busier
 * the server, the more each write carries. No frame waits beyond the turn it
 * was sent in (a flush at the end of each I/O callback, `process.nextTick`,
 * would coalesce only what one sender's read produced). One per server; no
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

  /** Corks `socket` until the end of this turn of the event loop, unless it is corked already. */
  hold(socket: Socket): void {
    if (socket.writableCorked > 0) return;
    socket.cork();
    this.corked.push(socket);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}
