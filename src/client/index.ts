/**
 * `webrtc-server/client`: a typed client for the signaling protocol
 * (docs/protocol.md) that runs in browsers and in Node, and a small full-mesh
 * RTCPeerConnection helper for browsers. Plain ES modules without
 * dependencies: a page may import `/client/index.js` as it is.
 */
export { SignalingClient, CLOSE_CONNECT_TIMEOUT, CLOSE_CREDENTIALS_FAILED, CLOSE_KEEPALIVE_TIMEOUT } from './signaling-client.js';
export type { ClientState, ClosedCause, Credentials, SignalingClientOptions, SignalingEvents } from './signaling-client.js';
export { MeshCall, MAX_QUEUED_MESSAGES } from './mesh.js';
export type { MeshEvents, MeshOptions, MeshPeer } from './mesh.js';
export { BACKOFF_DEFAULTS, backoffDelay, resolveBackoff } from './backoff.js';
export type { BackoffOptions, ResolvedBackoff } from './backoff.js';
export { classify } from './server-messages.js';
export type {
  AuthenticatedMessage, InvalidMessage, InvalidMessageReason, JoinedMessage, LeftMessage, PeerInfo, PeerMessage, ServerEventMessage, ServerFrame,
} from './server-messages.js';
export { roomUrl } from './socket.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
export type { Listener } from './emitter.js';
