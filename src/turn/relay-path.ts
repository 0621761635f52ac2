/**
 * The data paths of every allocation, whatever the client's transport: client
 * ChannelData to its peer (RFC 8656 section 12.6; mends #5: node-turn's
 * parser drops it), and peer data back to the client as ChannelData when a
 * channel is bound, else as a Data indication (section 11.6). Answers go out
 * on the allocation's own transport: the UDP listening socket, or the
 * client's stream (where ChannelData is padded to 4 bytes, section 12.5;
 * `encodeChannelData` always pads). Runs per packet: no per-packet
 * allocation beyond the frame itself, and sends without a callback (dgram
 * would queue one tick per datagram for it; a datagram the kernel refuses is
 * lost as UDP may lose it). Part of the node-turn adapter (see
 * node-turn-backend.ts).
 */
import type { RemoteInfo } from 'node:dgram';
import type NodeTurnTransport from 'node-turn/lib/transport.js';
import type { AdapterContext } from './adapter-context.js';
import type { RelayAllocation } from './relay-allocation.js';
import { Attr, decodeChannelData, encodeChannelData, encodeStun, encodeXorAddress, newTransactionId, StunClass, StunMethod } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';

export class RelayPath {
  /** The peer filter's verdict on a channel's peer, computed once per binding. */
  private readonly channelPeerVerdicts = new WeakMap<object, boolean>();
  private readonly peerFilter: boolean;

  constructor(private readonly ctx: AdapterContext) {
    this.peerFilter = ctx.isMended(NodeTurnDefect.PEER_FILTER);
  }

  /** Client -> peer ChannelData (RFC 8656 section 12.6; mends #5), for `allocation`, the client's (if any). */
  fromClient(buf: Buffer, allocation: RelayAllocation | undefined): void {
    const frame = decodeChannelData(buf);
    if (!allocation || !frame) return;
    const peer = allocation.channelBindings[frame.channel];
    if (!peer) return;
    const now = Date.now();
    if (!allocation.channelLive(frame.channel, now) || !allocation.permitted(peer.address, now)) return;
    if (this.peerFilter && !this.peerAllowed(peer)) return;
    this.ctx.relayed(frame.data.length);
    allocation.socket.send(frame.data, peer.port, peer.address);
  }

  /** Peer -> client: ChannelData when a channel is bound, else a Data indication (RFC 8656 section 11.6). */
  fromPeer(allocation: RelayAllocation, data: Buffer, rinfo: RemoteInfo): void {
    const now = Date.now();
    if (!this.ctx.running || allocation.ended || !allocation.permitted(rinfo.address, now)) return;
    const channel = allocation.channelFor(rinfo.address, rinfo.port, now);
    this.ctx.relayed(data.length);
    if (channel !== undefined) {
      this.toClient(allocation.transport, encodeChannelData(channel, data));
      return;
    }
    const id = newTransactionId();
    this.toClient(allocation.transport, encodeStun(StunMethod.DATA, StunClass.INDICATION, id, [
      [Attr.XOR_PEER_ADDRESS, encodeXorAddress({ address: rinfo.address, port: rinfo.port }, id)],
      [Attr.DATA, data],
    ]));
  }

  private toClient(transport: NodeTurnTransport, out: Buffer): void {
    transport.socket.send(out, transport.dst.port, transport.dst.address);
  }

  private peerAllowed(peer: { address: string; port: number }): boolean {
    let allowed = this.channelPeerVerdicts.get(peer);
    if (allowed === undefined) {
      allowed = this.ctx.config.peerFilter.checkDestination(peer.address, peer.port) === 'allowed';
      this.channelPeerVerdicts.set(peer, allowed);
    }
    return allowed;
  }
}
