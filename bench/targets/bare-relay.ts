/**
 * The baseline: the least a Node WebSocket relay can do. No auth, rooms by
 * URL (`/websocket/:room?id=ID`), a frame without parsing forwarded as is to
 * the rest of the room; for unicast, the one JSON.parse needed to read `to`.
 * Same `ws` library and options as our listener (no compression, no client
 * tracking), so the gap to it is the cost of everything our server adds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { announce, serveIpc } from './ipc.js';

const rooms = new Map<string, Set<WebSocket>>();
const byId = new Map<string, WebSocket>();
const TEXT = { binary: false } as const;
const TO_MARK = Buffer.from('"to":');

const http = createServer((_req, res) => {
  res.writeHead(426).end();
});
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 65_536 });

http.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://relay');
  const match = /^\/websocket\/([^/]+)$/.exec(url.pathname);
  if (!match) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  socket.on('error', () => socket.destroy());
  const room = decodeURIComponent(match[1]!);
  const id = url.searchParams.get('id') ?? '';
  wss.handleUpgrade(req, socket, head, (ws) => {
    let members = rooms.get(room);
    if (!members) rooms.set(room, (members = new Set()));
    members.add(ws);
    if (id) byId.set(id, ws);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      if (data.indexOf(TO_MARK) >= 0) {
        let to: unknown;
        try {
          to = (JSON.parse(data.toString()) as { to?: unknown }).to;
        } catch {
          return;
        }
        const target = typeof to === 'string' ? byId.get(to) : undefined;
        if (target && target.readyState === 1) target.send(data, TEXT);
        return;
      }
      for (const member of members) if (member !== ws && member.readyState === 1) member.send(data, TEXT);
    });
    ws.on('error', () => {});
    ws.once('close', () => {
      members.delete(ws);
      if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
      if (id && byId.get(id) === ws) byId.delete(id);
    });
  });
});

http.listen(0, '127.0.0.1', () => {
  serveIpc(
    () =>
      new Promise<void>((resolve) => {
        wss.close();
        for (const members of rooms.values()) for (const ws of members) ws.terminate();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  announce((http.address() as AddressInfo).port);
});
