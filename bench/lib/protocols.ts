/**
 * How the load generator speaks to each target: the URL a client opens, what
 * it sends once open, when it counts as ready (and the address others use to
 * reach it), and how a message is wrapped for a broadcast or a unicast.
 *
 * Every message carries the same body, whose first field is
 * `"z":"<sent µs>:<seq>:<sender index in its room>"`: the receiver finds it
 * with one `indexOf` on the raw frame, whatever envelope the server put
 * around it, so the generator never parses JSON on the hot path.
 */
/** `bare-protocol`: the bare relay speaking our protocol's membership frames (bench/targets/bare-protocol-relay.ts). */
export type TargetKind = 'ours' | 'bare' | 'bare-protocol' | 'y-webrtc' | 'peerjs';
export type Mode = 'broadcast' | 'unicast';

/** The password our server expects from every bench user (the bench target's auth function). */
export const BENCH_PASSWORD = 'bench';
/** The soak target knows no user whose name starts with this (made-up usernames, for the abusers). */
export const SOAK_UNKNOWN_USER_PREFIX = 'ghost-';

export interface ClientProtocol {
  readonly modes: readonly Mode[];
  url(base: string, room: string, clientId: string): string;
  /** Frames sent right after the socket opens. */
  hello(room: string, clientId: string): string[];
  /** The client's address once this frame completes the handshake; null while not ready yet. */
  ready(frame: string, clientId: string, opened: boolean): string | null;
  /** The frame sent for `body` (the text between the braces of an object). */
  encode(mode: Mode, room: string, to: string | undefined, body: string): string;
}

const ours: ClientProtocol = {
  modes: ['broadcast', 'unicast'],
  url: (base, room) => `${base}/websocket/${encodeURIComponent(room)}`,
  hello: (_room, clientId) => [JSON.stringify({ event: 'authenticate', data: { username: `u${clientId}`, password: BENCH_PASSWORD } })],
  ready: (frame) => {
    if (!frame.startsWith('{"event":"authenticated"')) {
      if (frame.startsWith('{"event":"unauthorized"')) throw new Error('bench user refused by the server');
      return null;
    }
    const parsed = JSON.parse(frame) as { data: { peer_id: string } };
    return parsed.data.peer_id;
  },
  encode: (mode, _room, to, body) => (mode === 'unicast' ? `{${body},"to":"${to}"}` : `{${body}}`),
};

const bare: ClientProtocol = {
  modes: ['broadcast', 'unicast'],
  url: (base, room, clientId) => `${base}/websocket/${encodeURIComponent(room)}?id=${encodeURIComponent(clientId)}`,
  hello: () => [],
  // The relay joins the client to its room before the upgrade completes: open is ready.
  ready: (_frame, clientId, opened) => (opened ? clientId : null),
  encode: (mode, _room, to, body) => (mode === 'unicast' ? `{"to":"${to}",${body}}` : `{${body}}`),
};

/** y-webrtc's bin/server.js: pub/sub by topic; `ping` is answered after the `subscribe` before it. */
const yWebrtc: ClientProtocol = {
  modes: ['broadcast'],
  url: (base) => `${base}/`,
  hello: (room) => [JSON.stringify({ type: 'subscribe', topics: [room] }), JSON.stringify({ type: 'ping' })],
  ready: (frame, clientId) => (frame === '{"type":"pong"}' ? clientId : null),
  encode: (_mode, room, _to, body) => `{"type":"publish","topic":${JSON.stringify(room)},"data":{${body}}}`,
};

/** The PeerJS server (`peer`): peer-addressed OFFER/ANSWER/CANDIDATE relayed to `dst`. */
const peerjs: ClientProtocol = {
  modes: ['unicast'],
  url: (base, _room, clientId) => `${base}/peerjs?key=peerjs&id=${encodeURIComponent(clientId)}&token=t${encodeURIComponent(clientId)}`,
  hello: () => [],
  ready: (frame, clientId) => {
    if (frame.startsWith('{"type":"ERROR"')) throw new Error(`peerjs refused the client: ${frame}`);
    return frame === '{"type":"OPEN"}' ? clientId : null;
  },
  encode: (_mode, _room, to, body) => `{"type":"CANDIDATE","dst":"${to}","payload":{${body}}}`,
};

export const PROTOCOLS: Record<TargetKind, ClientProtocol> = { ours, bare, 'bare-protocol': ours, 'y-webrtc': yWebrtc, peerjs };

/** A realistic trickled ICE candidate, about 250 bytes on the wire with its envelope. */
export const CANDIDATE_FIELDS =
  '"event":"candidate","candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.5 rport 46154 generation 0 ufrag EEtu network-id 1 network-cost 10","sdpMid":"0","sdpMLineIndex":0';

/** An offer-sized SDP (audio + video, as a browser writes it), as a JSON string literal: `"sdp":${SDP}`. */
export const SDP = JSON.stringify(
  [
    'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=extmap-allow-mixed', 'a=msid-semantic: WMS stream',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0', 'a=ice-ufrag:EEtu', 'a=ice-pwd:asd88fgpdd777uzjYhagZg',
    'a=ice-options:trickle', 'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
    'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109', 'c=IN IP4 0.0.0.0', 'a=mid:1', 'a=sendrecv', 'a=rtcp-mux', 'a=rtcp-rsize',
    'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 transport-cc', 'a=rtcp-fb:96 ccm fir', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96', 'a=rtpmap:102 H264/90000', 'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  ].join('\r\n') + '\r\n',
);

export function messageBody(sentUs: number, seq: number, sender: number): string {
  return `"z":"${sentUs}:${seq}:${sender}",${CANDIDATE_FIELDS}`;
}

const Z_MARK = Buffer.from('"z":"');

export interface Stamp {
  sentUs: number;
  seq: number;
  sender: number;
}

/** Reads the stamp of a frame without parsing it; false when the frame carries none. */
export function readStamp(frame: Buffer, out: Stamp): boolean {
  let i = frame.indexOf(Z_MARK);
  if (i < 0) return false;
  i += Z_MARK.length;
  let value = 0;
  let field = 0;
  for (; i < frame.length; i++) {
    const c = frame[i]!;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
    } else if (c === 58 /* : */ || c === 34 /* " */) {
      if (field === 0) out.sentUs = value;
      else if (field === 1) out.seq = value;
      else {
        out.sender = value;
        return true;
      }
      field++;
      value = 0;
      if (c === 34) return false;
    } else {
      return false;
    }
  }
  return false;
}
