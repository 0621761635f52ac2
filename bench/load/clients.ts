/**
 * Opening bench clients: one client through its target's handshake, and a
 * bounded pool of such tasks. Shared by the load generator's operations
 * (fan-out, idle, churn, the signaling profile, the reconnect storm).
 */
import { WebSocket } from 'ws';
import type { ClientProtocol } from '../lib/protocols.js';
import type { TargetRef } from './messages.js';

/** Opens one client and completes the target's handshake. */
export function connect(
  proto: ClientProtocol,
  target: TargetRef,
  room: string,
  clientId: string,
  localAddress: string | undefined,
  timeoutMs: number,
): Promise<{ ws: WebSocket; addr: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(proto.url(target.base, room, clientId), {
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
      handshakeTimeout: timeoutMs,
    });
    let done = false;
    const timer = setTimeout(() => fail(new Error(`handshake with ${target.kind} timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.terminate();
      reject(err);
    };
    const check = (frame: string, opened: boolean) => {
      let addr: string | null;
      try {
        addr = proto.ready(frame, clientId, opened);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (addr === null || done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners('message');
      resolve({ ws, addr });
    };
    ws.on('error', (err) => fail(err));
    ws.once('close', (code) => fail(new Error(`closed with ${code} during the handshake`)));
    ws.on('message', (data: Buffer) => check(data.toString(), true));
    ws.once('open', () => {
      for (const frame of proto.hello(room, clientId)) ws.send(frame);
      check('', true);
    });
  });
}

/** Runs `tasks` with at most `limit` at once. */
export async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const results: PromiseSettledResult<T>[] = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await task(i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return results;
}

/** Terminates `sockets`; resolves once all are closed, or after 2 s. */
export function closeAll(sockets: WebSocket[]): Promise<void> {
  const pending = sockets.filter((ws) => ws.readyState !== WebSocket.CLOSED);
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let left = pending.length;
    const timer = setTimeout(resolve, 2_000);
    for (const ws of pending) {
      ws.once('close', () => {
        if (--left === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      ws.terminate();
    }
  });
}
