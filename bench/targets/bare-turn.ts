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
import { announce, serveIpc } from './ipc.js';

const MAGIC = 0x2112a442;
const ALLOCATE = 0x0003;
const CHANNEL_BIND = 0x0009;
const XOR_PEER_ADDRESS = 0x0012;
const XOR_RELAYED_ADDRESS = 0x0016;
const CHANNEL_NUMBER = 0x000c;

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

function response(request: Buffer, type: number, attrs: [number, Buffer][]): Buffer {
  const len = attrs.reduce((a, [, v]) => a + 4 + v.length, 0);
  const out = Buffer.alloc(20 + len);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(len, 2);
  request.copy(out, 4, 4, 20); // magic cookie and transaction id
  let o = 20;
  for (const [t, v] of attrs) {
    out.writeUInt16BE(t, o);
    out.writeUInt16BE(v.length, o + 2);
    v.copy(out, o + 4);
    o += 4 + v.length;
  }
  return out;
}

function xorAddress(address: string, port: number): Buffer {
  const out = Buffer.alloc(8);
  out[1] = 0x01;
  out.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  out.writeUInt32BE((address.split('.').reduce((a, b) => a * 256 + Number(b), 0) ^ MAGIC) >>> 0, 4);
  return out;
}

function attribute(msg: Buffer, type: number): Buffer | null {
  let o = 20;
  const end = 20 + msg.readUInt16BE(2);
  while (o + 4 <= end && o + 4 <= msg.length) {
    const t = msg.readUInt16BE(o);
    const l = msg.readUInt16BE(o + 2);
    if (t === type) return msg.subarray(o + 4, o + 4 + l);
    o += 4 + ((l + 3) & ~3);
  }
  return null;
}

function onStun(msg: Buffer, rinfo: RemoteInfo): void {
  if (msg.length < 20 || msg.readUInt32BE(4) !== MAGIC) return;
  const type = msg.readUInt16BE(0);
  const key = `${rinfo.address}:${rinfo.port}`;
  if (type === ALLOCATE) {
    const existing = allocations.get(key);
    const reply = (a: Allocation) => {
      const { port } = a.relay.address();
      server.send(response(msg, 0x0100 | ALLOCATE, [[XOR_RELAYED_ADDRESS, xorAddress('127.0.0.1', port)]]), rinfo.port, rinfo.address);
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
  } else if (type === CHANNEL_BIND) {
    const allocation = allocations.get(key);
    const number = attribute(msg, CHANNEL_NUMBER);
    const peer = attribute(msg, XOR_PEER_ADDRESS);
    if (!allocation || !number || !peer || peer.length < 8) return;
    const channel = number.readUInt16BE(0);
    const port = peer.readUInt16BE(2) ^ (MAGIC >>> 16);
    const ip = (peer.readUInt32BE(4) ^ MAGIC) >>> 0;
    const address = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    allocation.peers.set(channel, { address, port });
    allocation.channels.set(`${address}:${port}`, channel);
    server.send(response(msg, 0x0100 | CHANNEL_BIND, []), rinfo.port, rinfo.address);
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
