/**
 * The public shape of a running server (docs/configuration.md, "Embedding"):
 * what `startServer` and `attach` return beyond `stop()`, and the types they
 * take. Types only: server-api.ts implements them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ChildInfo } from './otp/supervisor.js';
import type { TurnAddresses } from './turn/turn-backend.js';

export type { TurnAddresses };

/** A server of the user's that `attach` mounts `/websocket/:room` on. */
export type AnyHttpServer = HttpServer | HttpsServer;

/** What `reloadTls()` did. */
export type TlsReload = { reloaded: true; validTo: string } | { reloaded: false; reason: string };

export interface PeerSummary {
  peerId: string;
  username: string;
}

export interface Health {
  ready: boolean;
  draining: boolean;
  listeners: { signaling: boolean; turn: boolean | null };
  /** With `redisUrl`: whether the cluster's Redis is reachable (readiness needs it). */
  cluster?: boolean;
}

/** A listener with an address (signaling, TURN). */
export interface Addressable {
  address(): { host: string; port: number } | null;
}

export interface ServerApi {
  signalingAddress(): { host: string; port: number } | null;
  turnAddress(): { host: string; port: number } | null;
  /**
   * Where TURN listens over each transport: `udp`, `tcp` (the same port, or
   * null with `turnTcp: false`), `tls` (null when off; signaling's address
   * when `turnTlsPort` shares its port); null when TURN is off or restarting.
   */
  turnAddresses(): TurnAddresses | null;
  /** The loopback metrics listener (`metricsPort`), or null. */
  metricsAddress(): { host: string; port: number } | null;
  /** Members of `room` in join order; [] for an unknown room. */
  peers(room: string): PeerSummary[];
  /** Rooms with their member counts. */
  rooms(): { room: string; members: number }[];
  /** Sends `{"event", "data"?}` to every member of `room`; returns how many got it. */
  publish(room: string, event: string, data?: unknown): number;
  /** Sends `{"event", "data"?}` to one peer; false for an unknown peer. */
  send(peerId: string, event: string, data?: unknown): boolean;
  /** Closes a peer with 1008 after it leaves its room; false for an unknown peer. */
  kick(peerId: string): boolean;
  /** The live supervisor tree: each child's id, state and restart count. */
  tree(): ChildInfo[];
  health(): Health;
  /** Serves new TLS handshakes with `certfile`/`keyfile` read again (what SIGHUP does); open connections keep theirs. */
  reloadTls(): TlsReload;
}

