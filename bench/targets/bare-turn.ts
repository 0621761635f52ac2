/**
 * The TURN baseline in Node: the least a Node TURN relay can do for the
 * bench client. No authentication, no permissions, no lifetimes, no peer
 * policy: Allocate opens a relay socket and answers its address,
 * ChannelBind records the peer, and ChannelData goes to the peer and back
 * with one `dgram` send each way (the same `node:dgram` our server uses).
 * The gap from it to ours is the cost of what our TURN adds; the gap from
 * it to coturn is what Node's UDP costs.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { ATTR, CLASS, decode, encode, MAGIC, METHOD, readXorAddress, xorAddress } from '../lib/stun.js';
import { announce, serveIpc } from './ipc.js';


interface Allocation {
  relay: Socket;
  client: RemoteInfo;
  /** Channel -> peer. */
  peers: Map<number, { address: string; port: number }>;
  /** `address:port` of a peer -> its channel. */
  channels: Map<string, number>;
}

const allocations = new Map<string, Allocation>();
const server = createSocket('udp4');

/** A response to `request` (its transaction id), with `attrs`. */
function response(request: Buffer, type: number, attrs: [number, Buffer][]): Buffer {
  return encode(type, request.subarray(8, 20), attrs, null);
}

function onStun(msg: Buffer, rinfo: RemoteInfo): void {
  if (msg.length < 20 || msg.readUInt32BE(4) !== MAGIC) return;
  const type = msg.readUInt16BE(0);
  const key = `${rinfo.address}:${rinfo.port}`;
  if (type === METHOD.ALLOCATE) {
    const existing = allocations.get(key);
    const reply = (a: Allocation) => {
      const { port } = a.relay.address();
      server.send(response(msg, CLASS.SUCCESS | METHOD.ALLOCATE, [[ATTR.XOR_RELAYED_ADDRESS, xorAddress('127.0.0.1', port)]]), rinfo.port, rinfo.address);
    };
    if (existing) return reply(existing);
    const relay = createSocket('udp4');
    const allocation: Allocation = { relay, client: rinfo, peers: new Map(), channels: new Map() };
    allocations.set(key, allocation);
    relay.on('error', () => {});
    relay.on('message', (data: Buffer, from: RemoteInfo) => {
      const channel = allocation.channels.get(`${from.address}:${from.port}`);
      if (channel === undefined) return;
      const out = Buffer.allocUnsafe(4 + data.length);
      out.writeUInt16BE(channel, 0);
      out.writeUInt16BE(data.length, 2);
      data.copy(out, 4);
      server.send(out, allocation.client.port, allocation.client.address);
    });
    relay.bind(0, '127.0.0.1', () => reply(allocation));
  } else if (type === METHOD.CHANNEL_BIND) {
    const allocation = allocations.get(key);
    const attrs = decode(msg)?.attrs;
    const number = attrs?.get(ATTR.CHANNEL_NUMBER);
    const peer = readXorAddress(attrs?.get(ATTR.XOR_PEER_ADDRESS));
    if (!allocation || !number || !peer) return;
    const channel = number.readUInt16BE(0);
    const [address, port] = peer.split(':') as [string, string];
    allocation.peers.set(channel, { address, port: Number(port) });
    allocation.channels.set(peer, channel);
    server.send(response(msg, CLASS.SUCCESS | METHOD.CHANNEL_BIND, []), rinfo.port, rinfo.address);
  }
}

server.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
  const first = msg[0] ?? 0;
  if (first >= 0x40 && first <= 0x7f) {
    const allocation = allocations.get(`${rinfo.address}:${rinfo.port}`);
    const peer = allocation?.peers.get(msg.readUInt16BE(0));
    if (!allocation || !peer) return;
    allocation.relay.send(msg.subarray(4, 4 + msg.readUInt16BE(2)), peer.port, peer.address);
    return;
  }
  onStun(msg, rinfo);
});
server.on('error', () => {});

server.bind(0, '127.0.0.1', () => {
  serveIpc(async () => {
    for (const a of allocations.values()) a.relay.close();
    server.close();
  });
  const { port } = server.address();
  announce(port, port);
});
