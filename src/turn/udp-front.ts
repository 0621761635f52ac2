/**
 * The UDP front: replaces node-turn's `network` on the listening socket.
 * Each datagram is one message (RFC 8656 section 5: over UDP the 5-tuple is
 * the client's source address and our listening address), handed to the
 * message intake with a node-turn Transport whose answers go out on this
 * socket. Part of the node-turn adapter (see node-turn-backend.ts).
 */
import type { Socket } from 'node:dgram';
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnTransport from 'node-turn/lib/transport.js';
import type { AdapterContext } from './adapter-context.js';
import type { MessageIntake } from './message-intake.js';
import { UDP } from './node-turn-engine.js';

export class UdpFront {
  private socket: Socket | null = null;
  private dst: NodeTurnAddress | null = null;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly intake: MessageIntake,
  ) {}

  /** Takes over the bound listening socket from node-turn's network. */
  listen(socket: Socket): void {
    const { address, port } = socket.address();
    this.socket = socket;
    this.dst = new NodeTurnAddress(address, port);
    this.ctx.engine.listeningPort = port;
    this.ctx.engine.network.sockets = [socket];
    const foreign = this.ctx.config.foreign;
    socket.on('message', foreign
      ? (buf, rinfo) => {
        // a client another relay thread owns (the kernel remapped it after a thread restart): it answers
        if (foreign.size > 0 && foreign.forwarded(buf, rinfo.address, rinfo.port)) return;
        this.onDatagram(buf, rinfo.address, rinfo.port);
      }
      : (buf, rinfo) => this.onDatagram(buf, rinfo.address, rinfo.port));
  }

  /** A datagram from `address:port` that reached another relay thread's socket: answered from this one's (same address). */
  inject(buf: Buffer, address: string, port: number): void {
    this.onDatagram(buf, address, port);
  }

  /** Reads nothing more (the backend closes the socket). */
  close(): void {
    this.socket = null;
  }

  private onDatagram(buf: Buffer, address: string, port: number): void {
    const socket = this.socket;
    if (!socket || !this.ctx.running) return;
    let transport: NodeTurnTransport;
    try {
      transport = new NodeTurnTransport(UDP, new NodeTurnAddress(address, port), this.dst!, socket);
    } catch {
      return; // an address node-turn cannot represent
    }
    this.intake.receive(buf, transport);
  }
}
