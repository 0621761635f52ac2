/**
 * The UDP front: replaces node-turn's `network` on the listening socket.
 * Each datagram is one message (RFC 8656 section 5: over UDP the 5-tuple is
 * the client's source address and our listening address). ChannelData from
 * a client with a live allocation here goes straight to the relay path,
 * found by address and port (udp-clients.ts): no node-turn object and no
 * string per packet. Anything else is handed to the message intake with a
 * node-turn Transport whose answers go out on this socket, unless another
 * relay thread owns the client. Part of the node-turn adapter (see
 * node-turn-backend.ts).
 */
import type { Socket } from 'node:dgram';
import NodeTurnAddress from 'node-turn/lib/address.js';
import NodeTurnTransport from 'node-turn/lib/transport.js';
import type { AdapterContext } from './adapter-context.js';
import type { MessageIntake } from './message-intake.js';
import { UDP } from './node-turn-engine.js';
import type { RelayPath } from './relay-path.js';
import { looksLikeChannelData } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';
import type { UdpClients } from './udp-clients.js';

export class UdpFront {
  private socket: Socket | null = null;
  private dst: NodeTurnAddress | null = null;

  private readonly channelData: boolean;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly intake: MessageIntake,
    private readonly relay: RelayPath,
    private readonly clients: UdpClients,
  ) {
    this.channelData = ctx.isMended(NodeTurnDefect.CHANNEL_DATA_DROPPED);
  }

  /** Takes over the bound listening socket from node-turn's network. */
  listen(socket: Socket): void {
    const { address, port } = socket.address();
    this.socket = socket;
    this.dst = new NodeTurnAddress(address, port);
    this.ctx.engine.listeningPort = port;
    this.ctx.engine.network.sockets = [socket];
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address, rinfo.port, true));
  }

  /** A datagram from `address:port` that reached another relay thread's socket: answered from this one's (same address). */
  inject(buf: Buffer, address: string, port: number): void {
    this.onDatagram(buf, address, port, false);
  }

  /** Reads nothing more (the backend closes the socket). */
  close(): void {
    this.socket = null;
  }

  private onDatagram(buf: Buffer, address: string, port: number, received: boolean): void {
    const socket = this.socket;
    if (!socket || !this.ctx.running) return;
    const own = this.clients.live(address, port, this.ctx.engine.allocations);
    if (own !== undefined && this.channelData && looksLikeChannelData(buf)) {
      try {
        this.relay.fromClient(buf, own);
      } catch (err) {
        this.ctx.logger.debug({ err, from: `${address}:${port}` }, 'TURN ChannelData dropped'); // e.g. its relay socket closed meanwhile
      }
      return;
    }
    // a client another relay thread owns (the kernel remapped it after a thread restart): it answers
    const foreign = this.ctx.config.foreign;
    if (received && own === undefined && foreign !== undefined && foreign.size > 0 && foreign.forwarded(buf, address, port)) return;
    let transport: NodeTurnTransport;
    try {
      transport = new NodeTurnTransport(UDP, new NodeTurnAddress(address, port), this.dst!, socket);
    } catch {
      return; // an address node-turn cannot represent
    }
    this.intake.receive(buf, transport);
  }
}
