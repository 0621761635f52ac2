/**
 * The reconnect storm, in one generator process: the idle clients it holds
 * (authenticated in their rooms, from the `idle` op) all lose their sockets
 * at one instant, shared by every process (the machine's monotonic clock),
 * and each comes back to its room after a random delay, as browsers do
 * after a network blip or a deploy. A client is back once the target's
 * handshake completed (ours: `authenticated`, sent once it joined its
 * room). Every wait is bounded: each attempt by `timeoutMs`, retries by
 * `retries`, the whole storm by `deadlineMs`.
 */
import { WebSocket } from 'ws';
import { Histogram, nowUs } from '../lib/hist.js';
import { PROTOCOLS } from '../lib/protocols.js';
import { connect } from './clients.js';
import type { StormRequest, StormResult, TargetRef } from './messages.js';

/** A client the process holds, and what it needs to come back. */
export interface HeldClient {
  ws: WebSocket;
  target: TargetRef;
  room: string;
  clientId: string;
  local: string | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Drops every held client at `dropAtUs` and brings each back; `held[i].ws` is the new socket afterwards. */
export async function storm(request: StormRequest, held: HeldClient[]): Promise<StormResult> {
  const backHist = new Histogram();
  const attemptHist = new Histogram();
  let errors = 0;
  let firstError: string | null = null;
  let lastBackUs: number | null = null;
  const waitUs = request.dropAtUs - nowUs();
  if (waitUs > 0) await sleep(waitUs / 1000);
  const droppedAtUs = nowUs();
  for (const client of held) {
    client.ws.removeAllListeners('close');
    client.ws.terminate();
  }
  const deadlineUs = droppedAtUs + request.deadlineMs * 1000;
  const comeBack = async (client: HeldClient): Promise<boolean> => {
    await sleep(Math.random() * request.jitterMs);
    for (let attempt = 0; attempt <= request.retries; attempt++) {
      const leftMs = (deadlineUs - nowUs()) / 1000;
      if (leftMs <= 0) return false;
      const startUs = nowUs();
      try {
        const { ws } = await connect(PROTOCOLS[client.target.kind], client.target, client.room, client.clientId, client.local, Math.min(request.timeoutMs, leftMs));
        ws.on('error', () => {});
        client.ws = ws;
        const backUs = nowUs();
        attemptHist.record(backUs - startUs);
        backHist.record(backUs - droppedAtUs);
        if (lastBackUs === null || backUs > lastBackUs) lastBackUs = backUs;
        return true;
      } catch (err) {
        errors++;
        firstError ??= String(err);
        await sleep(request.retryDelayMs);
      }
    }
    return false;
  };
  const outcomes = await Promise.all(held.map(comeBack));
  const back = outcomes.filter(Boolean).length;
  return {
    clients: held.length,
    back,
    notBack: held.length - back,
    errors,
    firstError,
    droppedAtUs,
    lastBackUs,
    backHist: backHist.toSparse(),
    backMaxUs: backHist.maxUs,
    attemptHist: attemptHist.toSparse(),
    attemptMaxUs: attemptHist.maxUs,
  };
}
