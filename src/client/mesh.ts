/**
 * A full-mesh call over a `SignalingClient`: one `RTCPeerConnection` per other
 * member, with offers, answers and ICE candidates carried as the messages of
 * the original project's example (`offer`/`answer` with `{type, sdp}`,
 * `candidate` with `{candidate, sdpMid, sdpMLineIndex}` plus the original's
 * `id`/`label`), so it calls the original's clients too.
 *
 * Who offers: the newcomer (who gets `authenticated` with the `peers` list)
 * offers to every earlier member; earlier members only answer, so the first
 * negotiation never collides. Later renegotiations (`setLocalStream`) use
 * "perfect negotiation": when both sides offer at once, the side whose peer
 * id sorts higher is polite (it rolls back and answers), the other ignores
 * the colliding offer. Both sides agree on that order without talking.
 *
 * Browser only (RTCPeerConnection); bounded: at most `maxPeers` connections,
 * `maxPendingCandidates` queued candidates and `MAX_QUEUED_MESSAGES` messages
 * waiting per peer.
 */
import { Emitter } from './emitter.js';
import type { SignalingClient } from './signaling-client.js';
import type { PeerMessage } from './server-messages.js';

export interface MeshOptions {
  /** Configuration of each new connection (ICE servers, `iceTransportPolicy`); a function is asked per connection. */
  rtcConfiguration?: RTCConfiguration | (() => RTCConfiguration);
  /** What we send; without one we only receive. */
  localStream?: MediaStream | null;
  /** The RTCPeerConnection class (default: the global one). */
  RTCPeerConnection?: typeof RTCPeerConnection;
  /** Most connections at once (default 32); more peers are reported as `error` and not called. */
  maxPeers?: number;
  /** Most ICE candidates queued per peer while its description is pending (default 200). */
  maxPendingCandidates?: number;
}

export interface MeshPeer {
  readonly peerId: string;
  /** From `joined`/`authenticated`; null when we heard from the peer before the roster named it. */
  readonly username: string | null;
  readonly pc: RTCPeerConnection;
  /** What the peer sends us (null until its first track). */
  readonly stream: MediaStream | null;
}

export interface MeshEvents {
  /** A connection was made for a peer. */
  peer: MeshPeer;
  /** A track from a peer (its stream is `peer.stream`). */
  track: { peer: MeshPeer; track: MediaStreamTrack; stream: MediaStream };
  /** A connection's `connectionState` changed. */
  peerstate: { peer: MeshPeer; state: RTCPeerConnectionState };
  /** A peer's offer crossed ours (glare): the polite side (higher peer id) takes it, the other ignores it (`ignored`). */
  collision: { peer: MeshPeer; ignored: boolean };
  /** A peer's connection was closed (it left, we left, or the signaling reconnected). */
  peerclosed: { peerId: string; username: string | null };
  error: { peerId: string | null; error: unknown; during: string };
}

/** Messages waiting to be handled for one peer, at most. */
export const MAX_QUEUED_MESSAGES = 500;
const NEGOTIATION_EVENTS = new Set(['offer', 'answer', 'candidate']);

interface PeerState extends MeshPeer {
  username: string | null;
  stream: MediaStream | null;
  /** We offered first (we are the newcomer). */
  readonly initiator: boolean;
  /** Ours sorts higher: we give way when offers collide. */
  readonly polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  localTracksAdded: boolean;
  readonly pendingCandidates: RTCIceCandidateInit[];
  /** Handling of this peer's messages, one at a time. */
  chain: Promise<void>;
  queued: number;
  closed: boolean;
}

type Description = { type: RTCSdpType; sdp: string };

function description(data: unknown): Description | null {
  if (typeof data !== 'object' || data === null) return null;
  const { type, sdp } = data as { type?: unknown; sdp?: unknown };
  if ((type !== 'offer' && type !== 'answer' && type !== 'pranswer' && type !== 'rollback') || typeof sdp !== 'string') return null;
  return { type, sdp };
}

/** A candidate in this library's or the original example's field names. */
function candidate(data: unknown): RTCIceCandidateInit | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  if (typeof d.candidate !== 'string') return null;
  const mid = d.sdpMid !== undefined ? d.sdpMid : d.id;
  const index = d.sdpMLineIndex !== undefined ? d.sdpMLineIndex : d.label;
  const init: RTCIceCandidateInit = { candidate: d.candidate };
  if (typeof mid === 'string' || mid === null) init.sdpMid = mid;
  if (typeof index === 'number' || index === null) init.sdpMLineIndex = index;
  if (typeof d.usernameFragment === 'string') init.usernameFragment = d.usernameFragment;
  if (init.sdpMid == null && init.sdpMLineIndex == null) return null;
  return init;
}

export class MeshCall extends Emitter<MeshEvents> {
  private readonly peersById = new Map<string, PeerState>();
  private readonly PeerConnection: typeof RTCPeerConnection;
  private readonly maxPeers: number;
  private readonly maxPendingCandidates: number;
  private localStream: MediaStream | null;
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly client: SignalingClient,
    private readonly options: MeshOptions = {},
  ) {
    super((error, type) => {
      if (type !== 'error') this.emit('error', { peerId: null, error, during: `a "${String(type)}" listener` });
    });
    const global = (globalThis as { RTCPeerConnection?: typeof RTCPeerConnection }).RTCPeerConnection;
    const PeerConnection = options.RTCPeerConnection ?? global;
    if (!PeerConnection) throw new TypeError('no RTCPeerConnection: MeshCall needs a browser (or pass one in options.RTCPeerConnection)');
    this.PeerConnection = PeerConnection;
    this.maxPeers = options.maxPeers ?? 32;
    this.maxPendingCandidates = options.maxPendingCandidates ?? 200;
    this.localStream = options.localStream ?? null;
    this.unsubscribe = [
      client.on('authenticated', ({ peers }) => {
        // A new membership (first join or a reconnection, with a new peer id): we are the newcomer.
        this.closeAll();
        for (const peer of peers) this.call(peer.peerId, peer.username);
      }),
      client.on('joined', ({ peerId, username }) => {
        const peer = this.peersById.get(peerId);
        if (peer && peer.username === null) peer.username = username;
      }),
      client.on('left', ({ peerId }) => this.hangUp(peerId)),
      client.on('message', (message) => this.received(message)),
      client.on('disconnected', () => this.closeAll()),
    ];
    // Already a member: call the others now.
    for (const peer of client.peers()) this.call(peer.peerId, peer.username);
  }

  /** The connections, in the order they were made. */
  peers(): MeshPeer[] {
    return [...this.peersById.values()];
  }

  peer(peerId: string): MeshPeer | undefined {
    return this.peersById.get(peerId);
  }

  /**
   * Sends `stream` instead (null: send nothing): tracks of a kind already
   * sent are replaced without renegotiation; new kinds renegotiate.
   */
  async setLocalStream(stream: MediaStream | null): Promise<void> {
    this.localStream = stream;
    await Promise.all([...this.peersById.values()].map((peer) => this.useLocalStream(peer)));
  }

  /** Closes every connection and stops listening to the signaling client (which stays connected). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.closeAll();
  }

  // ---------------------------------------------------------------- connections

  /** Makes the connection to `peerId` and offers (we are the newcomer). */
  private call(peerId: string, username: string): void {
    const peer = this.connect(peerId, username, true);
    if (!peer) return;
    if (this.localStream && this.localStream.getTracks().length > 0) {
      this.addLocalTracks(peer);
    } else {
      // Receive-only: still ask for the other side's audio and video (`setLocalStream` may send later).
      peer.localTracksAdded = true;
      peer.pc.addTransceiver('audio', { direction: 'recvonly' });
      peer.pc.addTransceiver('video', { direction: 'recvonly' });
    }
  }

  private connect(peerId: string, username: string | null, initiator: boolean): PeerState | null {
    const own = this.client.peerId;
    if (own === null || peerId === own) return null;
    if (this.peersById.size >= this.maxPeers) {
      this.emit('error', { peerId, error: new RangeError(`more than ${this.maxPeers} peers: not calling ${peerId}`), during: 'connecting' });
      return null;
    }
    const config = typeof this.options.rtcConfiguration === 'function' ? this.options.rtcConfiguration() : this.options.rtcConfiguration;
    const pc = new this.PeerConnection(config ?? {});
    const peer: PeerState = {
      peerId, username, pc, stream: null, initiator, polite: own > peerId,
      makingOffer: false, ignoreOffer: false, localTracksAdded: false,
      pendingCandidates: [], chain: Promise.resolve(), queued: 0, closed: false,
    };
    this.peersById.set(peerId, peer);
    pc.onicecandidate = ({ candidate: c }) => {
      if (!c || peer.closed) return; // null: end of candidates
      this.client.sendTo(peerId, 'candidate', {
        candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment,
        // the field names of the original project's example, for its clients
        id: c.sdpMid, label: c.sdpMLineIndex,
      });
    };
    pc.onnegotiationneeded = () => {
      // An earlier member waits for the newcomer's offer before negotiating anything itself.
      if (!peer.initiator && !pc.remoteDescription) return;
      this.offer(peer).catch((error: unknown) => this.failed(peer, error, 'offering'));
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = peer.stream ?? streams[0] ?? new MediaStream();
      peer.stream = stream;
      if (!stream.getTracks().includes(track)) stream.addTrack(track);
      this.emit('track', { peer, track, stream });
    };
    pc.onconnectionstatechange = () => this.emit('peerstate', { peer, state: pc.connectionState });
    this.emit('peer', peer);
    return peer;
  }

  private async offer(peer: PeerState): Promise<void> {
    try {
      peer.makingOffer = true;
      await peer.pc.setLocalDescription();
      this.sendDescription(peer);
    } finally {
      peer.makingOffer = false;
    }
  }

  private sendDescription(peer: PeerState): void {
    const local = peer.pc.localDescription;
    if (!local || peer.closed) return;
    this.client.sendTo(peer.peerId, local.type, { type: local.type, sdp: local.sdp });
  }

  private addLocalTracks(peer: PeerState): void {
    peer.localTracksAdded = true;
    const stream = this.localStream;
    if (!stream) return;
    for (const track of stream.getTracks()) peer.pc.addTrack(track, stream);
  }

  private async useLocalStream(peer: PeerState): Promise<void> {
    if (!peer.localTracksAdded) return; // added when its offer is answered
    const tracks = this.localStream?.getTracks() ?? [];
    const senders = peer.pc.getSenders();
    for (const sender of senders) {
      const kind = sender.track?.kind ?? null;
      if (kind === null) continue;
      await sender.replaceTrack(tracks.find((t) => t.kind === kind) ?? null);
    }
    const sentKinds = new Set(senders.map((s) => s.track?.kind).filter((k) => k !== undefined));
    for (const track of tracks) {
      if (!sentKinds.has(track.kind)) peer.pc.addTrack(track, this.localStream!);
    }
  }

  // ---------------------------------------------------------------- signaling

  private received(message: PeerMessage): void {
    if (!NEGOTIATION_EVENTS.has(message.event)) return;
    let peer = this.peersById.get(message.from);
    if (!peer) {
      if (message.event !== 'offer') return; // an answer or candidate for a connection we no longer have
      const username = this.client.peers().find((p) => p.peerId === message.from)?.username ?? null;
      peer = this.connect(message.from, username, false) ?? undefined;
      if (!peer) return;
    }
    const target = peer;
    if (target.queued >= MAX_QUEUED_MESSAGES) {
      this.emit('error', { peerId: target.peerId, error: new RangeError(`more than ${MAX_QUEUED_MESSAGES} messages waiting`), during: `queueing ${message.event}` });
      return;
    }
    target.queued++;
    target.chain = target.chain
      .then(() => (target.closed ? undefined : this.handle(target, message)))
      .catch((error: unknown) => this.failed(target, error, `handling ${message.event}`))
      .finally(() => {
        target.queued--;
      });
  }

  private async handle(peer: PeerState, message: PeerMessage): Promise<void> {
    const { pc } = peer;
    if (message.event === 'candidate') {
      const init = candidate(message.data);
      if (!init) return;
      if (!pc.remoteDescription) {
        if (peer.pendingCandidates.length < this.maxPendingCandidates) peer.pendingCandidates.push(init);
        return;
      }
      await this.addCandidate(peer, init);
      return;
    }
    const desc = description(message.data);
    if (!desc || desc.type !== message.event) return;
    if (desc.type === 'answer') {
      if (pc.signalingState !== 'have-local-offer') return; // stale: we rolled back that offer
      await pc.setRemoteDescription(desc);
      await this.flushCandidates(peer);
      return;
    }
    const collision = peer.makingOffer || pc.signalingState !== 'stable';
    peer.ignoreOffer = !peer.polite && collision;
    if (collision) this.emit('collision', { peer, ignored: peer.ignoreOffer });
    if (peer.ignoreOffer) return;
    await pc.setRemoteDescription(desc); // rolls our own offer back on a collision
    // Added after the offer is applied, so the tracks take the offered transceivers.
    if (!peer.localTracksAdded) this.addLocalTracks(peer);
    await this.flushCandidates(peer);
    await pc.setLocalDescription();
    this.sendDescription(peer);
  }

  private async addCandidate(peer: PeerState, init: RTCIceCandidateInit): Promise<void> {
    try {
      await peer.pc.addIceCandidate(init);
    } catch (error) {
      if (!peer.ignoreOffer) this.emit('error', { peerId: peer.peerId, error, during: 'adding an ICE candidate' });
    }
  }

  private async flushCandidates(peer: PeerState): Promise<void> {
    for (const init of peer.pendingCandidates.splice(0)) await this.addCandidate(peer, init);
  }

  private failed(peer: PeerState, error: unknown, during: string): void {
    if (!peer.closed) this.emit('error', { peerId: peer.peerId, error, during });
  }

  private hangUp(peerId: string): void {
    const peer = this.peersById.get(peerId);
    if (!peer) return;
    this.peersById.delete(peerId);
    peer.closed = true;
    peer.pendingCandidates.length = 0;
    const { pc } = peer;
    pc.onicecandidate = pc.onnegotiationneeded = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
    this.emit('peerclosed', { peerId, username: peer.username });
  }

  private closeAll(): void {
    for (const peerId of [...this.peersById.keys()]) this.hangUp(peerId);
  }
}
