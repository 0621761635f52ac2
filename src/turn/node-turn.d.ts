/**
 * Minimal declarations for the parts of node-turn@0.0.6 (no types of its
 * own) that the node-turn adapter (src/turn/node-turn-backend.ts and the
 * files its header lists) uses. Deliberately partial.
 */
declare module 'node-turn' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';
  import type NodeTurnAddress from 'node-turn/lib/address.js';
  import type NodeTurnMessage from 'node-turn/lib/message.js';
  import type NodeTurnAllocation from 'node-turn/lib/allocation.js';

  namespace NodeTurnServer {
    interface Config {
      listeningIps?: string[];
      relayIps?: string[];
      externalIps?: string | Record<string, string> | null;
      listeningPort?: number;
      minPort?: number;
      maxPort?: number;
      maxAllocateLifetime?: number;
      defaultAllocatetLifetime?: number;
      authMech?: 'none' | 'short-term' | 'long-term';
      realm?: string;
      credentials?: Record<string, string>;
      debugLevel?: string;
      log?: (msg: unknown) => void;
      debug?: (level: string, msg: unknown) => void;
    }
    type Reply = NodeTurnMessage;
    interface MethodHandler<F> {
      server: NodeTurnServer;
    }
    interface Authentification {
      server: NodeTurnServer;
      nonces: Record<string, { ttl: number }>;
      credentials: Record<string, string>;
      auth(msg: NodeTurnMessage, cb: (err: Error | null, reply?: NodeTurnMessage) => void): void;
      generateNonce(): string;
      checkNonce(nonce: string): boolean;
    }
    interface Network {
      sockets: Socket[];
      start(): void;
      stop(): void;
    }
  }

  class NodeTurnServer extends EventEmitter {
    constructor(config?: NodeTurnServer.Config);
    software: string;
    realm: string;
    listeningIps: string[];
    listeningPort: number;
    maxAllocateLifetime: number;
    defaultAllocatetLifetime: number;
    externalIps: string | Record<string, string> | null;
    allocations: Record<string, NodeTurnAllocation>;
    authentification: NodeTurnServer.Authentification;
    network: NodeTurnServer.Network;
    allocate: { allocate(msg: NodeTurnMessage, reply: NodeTurnMessage): void };
    refresh: { refresh(msg: NodeTurnMessage, reply: NodeTurnMessage): void };
    createPermission: { createPermission(msg: NodeTurnMessage, reply: NodeTurnMessage): void };
    send: { send(msg: NodeTurnMessage, reply: NodeTurnMessage): void };
    channelBind: { channelBind(msg: NodeTurnMessage, reply: NodeTurnMessage): void };
    debug(level: string, msg: unknown): void;
    start(): void;
    stop(): void;
  }
  export = NodeTurnServer;
}

declare module 'node-turn/lib/address.js' {
  class NodeTurnAddress {
    constructor(address: string, port: number);
    address: string;
    port: number;
    family: number;
    toString(): string;
  }
  export = NodeTurnAddress;
}

declare module 'node-turn/lib/transport.js' {
  import type NodeTurnAddress from 'node-turn/lib/address.js';
  namespace NodeTurnTransport {
    /**
     * What node-turn sends its answers on (`socket.send(msg, port, address, cb)`):
     * the UDP listening socket, or one client stream (src/turn/stream-link.ts).
     * `closed`: true once a stream has closed; `dropped()`: a request of this
     * client was dropped unanswered (a stream closes: its client never
     * retransmits). A UDP socket has neither.
     */
    interface ClientSocket {
      send(msg: Buffer, port: number, address: string, callback?: (err: Error | null) => void): void;
      readonly closed?: boolean;
      dropped?(): void;
    }
  }
  class NodeTurnTransport {
    constructor(protocol: number, src: NodeTurnAddress, dst: NodeTurnAddress, socket: NodeTurnTransport.ClientSocket);
    protocol: number;
    src: NodeTurnAddress;
    dst: NodeTurnAddress;
    socket: NodeTurnTransport.ClientSocket;
    get5Tuple(): string;
    revert(): NodeTurnTransport;
  }
  export = NodeTurnTransport;
}

declare module 'node-turn/lib/attribute.js' {
  import type NodeTurnMessage from 'node-turn/lib/message.js';
  class NodeTurnAttribute {
    constructor(msg: NodeTurnMessage, name?: string, value?: unknown);
    name: string | null;
    type: number | null;
    length: number;
    padding: number;
    value: unknown;
    read(data: Buffer): void;
  }
  export = NodeTurnAttribute;
}

declare module 'node-turn/lib/message.js' {
  import type NodeTurnServer from 'node-turn';
  import type NodeTurnTransport from 'node-turn/lib/transport.js';
  import type NodeTurnAttribute from 'node-turn/lib/attribute.js';
  import type NodeTurnAllocation from 'node-turn/lib/allocation.js';
  class NodeTurnMessage {
    constructor(server: NodeTurnServer, transport: NodeTurnTransport);
    server: NodeTurnServer;
    transport: NodeTurnTransport;
    allocation: NodeTurnAllocation | null;
    class: number | null;
    method: number | null;
    useFingerprint: boolean;
    length: number;
    attributes: NodeTurnAttribute[];
    magicCookie: number;
    transactionID: string | null;
    user: { username: string; password: string } | null;
    _state: number;
    read(buf: Buffer): boolean;
    reply(): NodeTurnMessage;
    getAttribute(name: string): any;
    getAttributes(name: string): any[];
    addAttribute(name: string, value?: unknown): void;
    getMethodName(): string;
    toBuffer(): Buffer;
    resolve(): void;
    reject(code: number, reason: string): void;
    discard(): void;
    debug(level: string, msg: unknown): void;
  }
  export = NodeTurnMessage;
}

declare module 'node-turn/lib/allocation.js' {
  import type { Socket } from 'node:dgram';
  import type NodeTurnServer from 'node-turn';
  import type NodeTurnAddress from 'node-turn/lib/address.js';
  import type NodeTurnMessage from 'node-turn/lib/message.js';
  import type NodeTurnTransport from 'node-turn/lib/transport.js';
  class NodeTurnAllocation {
    constructor(msg: NodeTurnMessage, sockets: Socket[], lifetime: number);
    transactionID: string;
    transport: NodeTurnTransport;
    fiveTuple: string;
    user: { username: string; password: string };
    server: NodeTurnServer;
    sockets: Socket[];
    relayedTransportAddress: NodeTurnAddress;
    lifetime: number;
    mappedAddress: NodeTurnAddress;
    /** peer IP -> expiry (ms since epoch) */
    permissions: Record<string, number>;
    /** channel number -> peer address */
    channelBindings: Record<string, NodeTurnAddress | undefined>;
    timeToExpiry: number;
    timer: NodeJS.Timeout;
    update(lifetime?: number): void;
    permit(address: string): void;
    getPeerChannelNumber(peer: NodeTurnAddress): number | undefined;
  }
  export = NodeTurnAllocation;
}

declare module 'node-turn/lib/constants.js' {
  const CONSTANTS: {
    ATTR: Record<string, number>;
    METHOD: Record<string, number>;
    CLASS: { REQUEST: number; INDICATION: number; SUCCESS: number; ERROR: number };
    TRANSPORT: { FAMILY: { IPV4: number; IPV6: number }; PROTOCOL: { UDP: number } };
    MAGIC_COOKIE: number;
  };
  export = CONSTANTS;
}
