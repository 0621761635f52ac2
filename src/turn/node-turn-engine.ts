/**
 * node-turn's server as the adapter configures it: the engine that dispatches
 * each STUN method, runs the long-term credential exchange and encodes every
 * response. Part of the node-turn adapter (see node-turn-backend.ts).
 */
import NodeTurnServer from 'node-turn';
import type NodeTurnMessage from 'node-turn/lib/message.js';
import CONSTANTS from 'node-turn/lib/constants.js';
import type { Logger } from 'pino';
import type { NonceIssuer } from './nonce.js';
import { saslprep } from './stun.js';
import type { StunMessage } from './stun.js';
import type { TurnBackendConfig } from './turn-backend.js';

export const UDP = CONSTANTS.TRANSPORT.PROTOCOL.UDP;

/** A node-turn message carrying the datagram we decoded it from. */
export type EngineMessage = NodeTurnMessage & { stun?: StunMessage };

/**
 * node-turn's server, plus the source of the request being authenticated.
 * The adapter's parts wire the mends onto its own objects.
 */
export class EngineServer extends NodeTurnServer {
  /** The transport source of the request being authenticated (nonces are bound to it). */
  nonceSource = '';
}

/** node-turn's server on our configuration; its network is replaced by the UDP front. */
export function createEngine(config: TurnBackendConfig, software: string, logger: Logger): EngineServer {
  const engine = new EngineServer({
    listeningIps: [config.listenHost],
    listeningPort: config.port,
    relayIps: [config.relayBindHost],
    externalIps: config.relayAddress,
    minPort: config.relayPorts[0],
    maxPort: config.relayPorts[1],
    maxAllocateLifetime: config.maxLifetimeSec,
    defaultAllocatetLifetime: config.maxLifetimeSec,
    authMech: 'long-term',
    realm: config.realm,
    credentials: credentialsView(config),
    debug: (level: string, msg: unknown) => engineLog(logger, level, msg),
  });
  engine.software = software;
  return engine;
}

/**
 * node-turn reads `credentials[username]` synchronously: a Proxy over the
 * credential cache. The value is the SASLprep'd password, which is what
 * node-turn's MD5 key for response MESSAGE-INTEGRITY needs.
 */
function credentialsView(config: TurnBackendConfig): Record<string, string> {
  const credentials = config.credentials;
  return new Proxy<Record<string, string>>(Object.create(null) as Record<string, string>, {
    get: (_t, key) => {
      if (typeof key !== 'string') return undefined;
      const credential = credentials.peek(key);
      return credential ? saslprep(credential.password) : undefined;
    },
    has: (_t, key) => typeof key === 'string' && Boolean(credentials.peek(key)),
    set: () => true,
    deleteProperty: (_t, key) => {
      if (typeof key === 'string') credentials.cache.forget(key);
      return true;
    },
    ownKeys: () => [],
  });
}

function engineLog(logger: Logger, level: string, msg: unknown): void {
  if (level === 'FATAL' || level === 'ERROR') logger.warn({ engine: 'node-turn' }, String(msg instanceof Error ? msg.message : msg));
  else if (logger.isLevelEnabled('trace')) logger.trace({ engine: 'node-turn' }, String(msg));
}

/** Stateless nonces bound to the request's source (mends #4: node-turn arms a one-hour timer per nonce). */
export function mendNonces(engine: EngineServer, nonces: NonceIssuer): void {
  const auth = engine.authentification;
  const longTermAuth = auth.auth.bind(auth);
  auth.auth = (msg, cb) => {
    engine.nonceSource = sourceKey(msg.transport.src);
    try {
      longTermAuth(msg, cb);
    } finally {
      engine.nonceSource = '';
    }
  };
  auth.generateNonce = () => nonces.issue(engine.nonceSource);
  auth.checkNonce = (nonce) => nonces.check(nonce, engine.nonceSource);
}

export function sourceKey(src: { address: string; port: number }): string {
  return `${src.address}:${src.port}`;
}
