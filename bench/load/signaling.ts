/**
 * The signaling profile's load, in one generator process, over the rooms
 * the `setup` op connected (every member authenticated in its room):
 * until stopped,
 *   - a steady low rate: each member broadcasts at its own rate (a few to
 *     40 msgs/s), a stamped ICE-candidate-sized message;
 *   - ICE exchanges: every few seconds a member of each room (re)joins its
 *     call: it sends an offer-sized SDP to each peer, then trickles its
 *     candidates to each (one every `trickleMs`), and each peer answers the
 *     same way (answer, then candidates), all unicast.
 * One timer per process drives every send; every list it walks is bounded
 * by the members of this process. What arrives is counted by the process
 * as the fan-out load's frames are (delivered, latency).
 */
import { WebSocket } from 'ws';
import { nowUs } from '../lib/hist.js';
import { CANDIDATE_FIELDS, SDP } from '../lib/protocols.js';
import type { ClientProtocol } from '../lib/protocols.js';
import type { SignalingStartRequest } from './messages.js';

/** Above this many bytes queued on a client socket, its sends are skipped. */
const MAX_BUFFERED = 1 << 20;
const TICK_MS = 5;
/** A member more than this behind its steady schedule skips what it missed (counted as lagged). */
const MAX_BEHIND_US = 200_000;
/** Exchanges in progress, at most this many per member of the process (a bound the load never nears). */
const MAX_EXCHANGES_PER_MEMBER = 16;

/** A member as the `setup` op connected it. */
export interface SignalingClient {
  ws: WebSocket;
  idx: number;
  /** The address the others reach it by (our peer_id, the bare relay's client id). */
  addr: string;
}

export interface SignalingRoom {
  name: string;
  clients: SignalingClient[];
  seq: number;
}

/** What the process counts for the sends it made or could not make. */
export interface SendCounter {
  sent(): void;
  skipped(): void;
  lagged(n: number): void;
}

interface Member {
  client: SignalingClient;
  room: SignalingRoom;
  /** Steady broadcasts: µs between two (0: none), and when the next is due. */
  everyUs: number;
  nextUs: number;
}

/** One direction of an ICE exchange: an SDP, then candidates trickled one every `trickleUs`. */
interface Exchange {
  from: Member;
  to: Member;
  kind: 'offer' | 'answer';
  startUs: number;
  /** Messages sent so far (the SDP is the first). */
  sent: number;
}

let ticker: NodeJS.Timeout | null = null;

export function signalingStart(request: SignalingStartRequest, proto: ClientProtocol, rooms: readonly SignalingRoom[], counter: SendCounter): void {
  signalingStop();
  const t0 = nowUs();
  const [lo, hi] = request.rejoinEveryMs;
  const nextJoin = (from: number) => from + 1000 * (lo + Math.random() * (hi - lo));
  const trickleUs = request.trickleMs * 1000;
  const total = 1 + request.candidatesPerPeer;
  const byRoom = rooms.map((room) => room.clients.map((client): Member => ({ client, room, everyUs: 0, nextUs: 0 })));
  const members = byRoom.flat();
  members.forEach((m, i) => {
    const rate = request.memberRates[i % request.memberRates.length]!;
    m.everyUs = rate > 0 ? 1e6 / rate : 0;
    // The first sends spread over one period: members do not send in lockstep.
    m.nextUs = t0 + Math.random() * m.everyUs;
  });
  const joins = rooms.map(() => ({ nextUs: t0 + Math.random() * 1000 * hi, next: 0 }));
  const exchanges: Exchange[] = [];

  const send = (from: Member, to: Member | undefined, body: string): void => {
    const ws = from.client.ws;
    if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED) {
      counter.skipped();
      return;
    }
    ws.send(proto.encode(to ? 'unicast' : 'broadcast', from.room.name, to?.client.addr, body));
    counter.sent();
  };
  const stamp = (from: Member, now: number) => `"z":"${now}:${from.room.seq++}:${from.client.idx}"`;

  ticker = setInterval(() => {
    const now = nowUs();
    // Steady broadcasts.
    for (const m of members) {
      if (m.everyUs === 0 || m.nextUs > now || m.room.clients.length < 2) continue;
      if (now - m.nextUs > MAX_BEHIND_US) {
        const missed = Math.floor((now - m.nextUs) / m.everyUs);
        counter.lagged(missed);
        m.nextUs += missed * m.everyUs;
      }
      for (let n = 0; m.nextUs <= now && n < 8; n++) {
        send(m, undefined, `${stamp(m, now)},${CANDIDATE_FIELDS}`);
        m.nextUs += m.everyUs;
      }
    }
    // A member of each room (re)joins the call: an exchange with each peer, both ways.
    byRoom.forEach((roomMembers, r) => {
      const join = joins[r]!;
      if (join.nextUs > now || roomMembers.length < 2) return;
      join.nextUs = nextJoin(now);
      if (exchanges.length > MAX_EXCHANGES_PER_MEMBER * members.length) {
        counter.lagged(1); // the process cannot keep up: this join is skipped
        return;
      }
      const joiner = roomMembers[join.next++ % roomMembers.length]!;
      for (const peer of roomMembers) {
        if (peer === joiner) continue;
        exchanges.push({ from: joiner, to: peer, kind: 'offer', startUs: now, sent: 0 });
        exchanges.push({ from: peer, to: joiner, kind: 'answer', startUs: now + trickleUs, sent: 0 });
      }
    });
    // Exchanges in progress: the SDP first, then the candidates as they are "gathered".
    let kept = 0;
    for (const x of exchanges) {
      const due = x.startUs > now ? 0 : Math.min(total, 1 + Math.floor((now - x.startUs) / trickleUs));
      for (; x.sent < due; x.sent++) {
        send(x.from, x.to, x.sent === 0 ? `${stamp(x.from, now)},"event":"${x.kind}","sdp":${SDP}` : `${stamp(x.from, now)},${CANDIDATE_FIELDS}`);
      }
      if (x.sent < total) exchanges[kept++] = x;
    }
    exchanges.length = kept;
  }, TICK_MS);
}

export function signalingStop(): void {
  if (ticker) clearInterval(ticker);
  ticker = null; // the exchanges in progress go with its closure
}
