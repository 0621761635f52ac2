/**
 * The TURN backend on node-turn@0.0.6: this file only wires the adapter
 * together (pion's server.go) and owns the listening socket's lifecycle.
 *
 * node-turn stays the engine: its server dispatches each STUN method, runs
 * the long-term credential exchange (401/438 with REALM and NONCE), checks the
 * allocation and 5-tuple (437, 441), keeps permissions and channel bindings,
 * answers Binding, and encodes every response (MESSAGE-INTEGRITY, FINGERPRINT).
 * The adapter owns its configuration and mends, from the outside and in these
 * files only, each defect of 0.0.6 (see `NodeTurnDefect`):
 *
 *   - node-turn-engine.ts: node-turn's server on our configuration, the
 *     credential view, and stateless nonces (#4);
 *   - udp-front.ts replaces node-turn's `network`: it takes the socket bound
 *     here (node-turn turns port 0 into 3478), parses datagrams with our
 *     RFC 5769 tested codec, relays client ChannelData (#5) and peer data,
 *     answers 420 (#7) and fetches async credentials first;
 *   - engine-message.ts turns our decoding into node-turn's Message and checks
 *     MESSAGE-INTEGRITY in constant time;
 *   - relay-allocation.ts: `RelayAllocation` (a subclass of node-turn's
 *     Allocation) owns its timer and relay socket and closes it when it ends (#3);
 *   - allocation-table.ts: relay ports, quotas, relay sockets, live and
 *     pending allocations;
 *   - turn-handlers.ts: the method handlers Allocate (#2, #8, quotas),
 *     Refresh (#1), ChannelBind (#6), CreatePermission/Send/ChannelBind peer
 *     filtering (#9), replaced or wrapped on node-turn's handler objects;
 *   - adapter-context.ts: what those parts share (no node-turn import).
 *
 * Only the adapter files above (and node-turn.d.ts, its declarations) import
 * node-turn. `stop()` closes every socket and timer.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { AdapterContext } from './adapter-context.js';
import { AllocationTable } from './allocation-table.js';
import { createEngine, mendNonces } from './node-turn-engine.js';
import { NonceIssuer } from './nonce.js';
import type { RelayAllocation } from './relay-allocation.js';
import { TurnHandlers } from './turn-handlers.js';
import { NodeTurnDefect } from './turn-backend.js';
import type { TurnAddress, TurnBackend, TurnBackendConfig, TurnStats } from './turn-backend.js';
import { UdpFront } from './udp-front.js';

export class NodeTurnBackend implements TurnBackend {
  readonly logger: Logger;
  private readonly ctx: AdapterContext;
  private readonly front: UdpFront;
  private readonly allocations: AllocationTable;
  private socket: Socket | null = null;
  private bound: TurnAddress | null = null;
  private failureListener: ((err: Error) => void) | null = null;

  constructor(private readonly config: TurnBackendConfig) {
    this.logger = config.logger;
    const software = config.software ?? 'webrtc-server';
    const nonces = new NonceIssuer(config.nonce);
    const engine = createEngine(config, software, this.logger);
    this.ctx = new AdapterContext(config, engine, software);
    this.front = new UdpFront(this.ctx, nonces);
    this.allocations = new AllocationTable(this.ctx, this.front);
    if (this.ctx.isMended(NodeTurnDefect.NONCE_TIMERS)) mendNonces(engine, nonces);
    new TurnHandlers(this.ctx, this.allocations).install();
  }

  async start(): Promise<TurnAddress> {
    if (this.socket) throw new Error('TURN backend already started');
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      // mends "listeningPort: 0 means 3478": we bind what we are given
      socket.bind({ address: this.config.listenHost, port: this.config.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const { address, port } = socket.address();
    this.socket = socket;
    this.ctx.running = true;
    this.bound = { host: address, port };
    this.front.listen(socket);
    socket.on('error', (err) => this.fail(err));
    return this.bound;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.ctx.running = false;
    this.socket = null;
    this.front.close();
    this.bound = null;
    this.allocations.closeAll();
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  address(): TurnAddress | null {
    return this.bound;
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListener = listener;
  }

  stats(): TurnStats {
    const engine = this.ctx.engine;
    const now = Date.now();
    let permissions = 0;
    let channels = 0;
    for (const allocation of Object.values(engine.allocations) as RelayAllocation[]) {
      permissions += allocation.livePermissions(now);
      channels += allocation.liveChannels(now);
    }
    return {
      allocations: Object.keys(engine.allocations).length,
      permissions,
      channels,
      relayedBytes: this.ctx.relayedBytes,
      relaySockets: this.allocations.relaySockets,
      pendingAllocations: this.allocations.pending.size,
      pendingAuthLookups: this.config.credentials.pendingLookups,
      engineNonces: Object.keys(engine.authentification.nonces).length,
    };
  }

  private fail(err: Error): void {
    if (!this.ctx.running) return;
    this.logger.error({ err }, 'TURN listening socket failed');
    void this.stop().finally(() => this.failureListener?.(err));
  }
}
