/**
 * The bare relay speaking our protocol's membership part, the least any
 * server of this protocol must do per connection (docs/protocol.md): read
 * the `authenticate` frame (one JSON.parse, any password accepted), answer
 * `authenticated` with the peers, tell the others `joined`, and `left` when
 * the socket closes; messages are relayed as the bare relay does (with
 * `from` spliced in). No actor, no supervision, no limits, no metrics, no
 * logs. The churn suite's second baseline: bare relay → this → ours
 * separates what the protocol's own frames cost from what our server adds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { announce, serveIpc } from './ipc.js';

interface Peer {
  ws: WebSocket;
  id: string;
  username: string;
}

const rooms = new Map<string, Set<Peer>>();
const byId = new Map<string, Peer>();
const TEXT = { binary: false } as const;
let nextId = 0;

const http = createServer((_req, res) => {
  res.writeHead(426).end();
});
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 65_536 });

const frame = (event: string, data: unknown) => JSON.stringify({ event, data });
const others = (members: Set<Peer>, self: Peer, text: string) => {
  for (const member of members) if (member !== self && member.ws.readyState === 1) member.ws.send(text, TEXT);
};

http.on('upgrade', (req, socket, head) => {
  const match = /^\/websocket\/([^/?]+)/.exec(req.url ?? '/');
  if (!match) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  socket.on('error', () => socket.destroy());
  const room = decodeURIComponent(match[1]!);
  wss.handleUpgrade(req, socket, head, (ws) => {
    let peer: Peer | null = null;
    let members: Set<Peer> | undefined;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      if (peer === null) {
        let username: unknown;
        try {
          username = (JSON.parse(data.toString()) as { data?: { username?: unknown } }).data?.username;
        } catch {
          return;
        }
        if (typeof username !== 'string') return;
        peer = { ws, id: String(++nextId), username };
        members = rooms.get(room);
        if (!members) rooms.set(room, (members = new Set()));
        const peers = [...members].map((m) => ({ peer_id: m.id, username: m.username }));
        members.add(peer);
        byId.set(peer.id, peer);
        ws.send(frame('authenticated', { peer_id: peer.id, peers }), TEXT);
        others(members, peer, frame('joined', { peer_id: peer.id, username }));
        return;
      }
      const text = data.toString();
      const out = `${text.slice(0, text.lastIndexOf('}'))},"from":"${peer.id}"}`;
      const to = text.includes('"to":') ? (JSON.parse(text) as { to?: unknown }).to : undefined;
      if (typeof to === 'string') byId.get(to)?.ws.send(out, TEXT);
      else others(members!, peer, out);
    });
    ws.on('error', () => {});
    ws.once('close', () => {
      if (peer === null || !members) return;
      members.delete(peer);
      byId.delete(peer.id);
      if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
      else others(members, peer, frame('left', { username: peer.username, peer_id: peer.id }));
    });
  });
});

http.listen(0, '127.0.0.1', () => {
  serveIpc(
    () =>
      new Promise<void>((resolve) => {
        wss.close();
        for (const members of rooms.values()) for (const peer of members) peer.ws.terminate();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  announce((http.address() as AddressInfo).port);
});
