/**
 * The entry of one TURN relay thread (docs/turn-threads.md): the node-turn
 * adapter (NodeTurnBackend and its UDP front) on a UDP socket of its own,
 * bound with SO_REUSEPORT to the shared TURN port, its relay sockets its
 * own. What threads share comes from the main thread (relay-thread-protocol.ts):
 * passwords (MainCalls, bounded, with a deadline), quota slots (the same),
 * the guess throttle (ThreadGate), the owners of other threads' clients
 * (ForeignOwners). Datagrams of those clients go straight to their owner
 * over a channel per pair of threads (PeerChannels), not through the main
 * thread. Counts go to shared memory, events in batches every
 * `FLUSH_MS`, log lines to the main thread's logger (at most
 * `LOG_LINES_PER_SECOND`). An error of the engine is thrown: the thread
 * dies and turn_sup restarts it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { TurnCredentialCache } from './credential-cache.js';
import type { CachedCredential } from './credential-cache.js';
import { LookupUnanswered, TurnCredentials } from './credentials.js';
import { ForeignOwners } from './foreign-owners.js';
import type { TurnLimits } from './limits.js';
import { LogThrottle } from './log-throttle.js';
import { MainCalls } from './main-calls.js';
import { NodeTurnBackend } from './node-turn-backend.js';
import { PeerChannels } from './peer-channels.js';
import { PeerFilter } from './peer-filter.js';
import type { QuotaLedger, QuotaVerdict } from './quota.js';
import { parseToThread, STAT_CELLS, threadDataSchema } from './relay-thread-protocol.js';
import type { FromThread, ToThread } from './relay-thread-protocol.js';
import { ThreadGate } from './thread-gate.js';
import type { NodeTurnDefect, TurnEvents, TurnRefusal } from './turn-backend.js';

/** How often batched events and the slower counts go to the main thread, ms. */
const FLUSH_MS = 100;
/** Log lines sent to the main thread per second at most (the rest counted as suppressed). */
const LOG_LINES_PER_SECOND = 200;
/** Requests waiting for the main thread at once, per kind; and their deadlines. */
const PASSWORD_CALLS = { maxPending: 512, timeoutMs: 2_500 };
const QUOTA_CALLS = { maxPending: 1024, timeoutMs: 1_000 };

/** Wrapped: MainCalls answers null when the main thread did not answer. */
type PasswordAnswer = { credential: CachedCredential | null | 'unanswered' };
type QuotaAnswer = Extract<ToThread, { t: 'quota' }>;

const port = parentPort;
if (!port) throw new Error('relay-thread-main.ts runs as a worker thread');
const data = threadDataSchema.parse(workerData);
const cfg = data.config;
const post = (message: FromThread): void => port.postMessage(message);

const logThrottle = new LogThrottle(LOG_LINES_PER_SECOND);
const logger = pino({ level: data.logLevel, base: null }, {
  write(line: string) {
    const suppressed = logThrottle.admit();
    if (suppressed !== null) post({ t: 'log', line: line.length > 64 * 1024 ? line.slice(0, 64 * 1024) : line, suppressed });
  },
});

const passwords = new MainCalls<PasswordAnswer>(PASSWORD_CALLS);
const quotaCalls = new MainCalls<QuotaAnswer>(QUOTA_CALLS, (late) => {
  // taken after this thread gave up waiting (and answered 508): given back; a reservation's slot either way (the reservation is spent)
  if (late.verdict === 'ok') post({ t: 'quota.release', user: late.user, client: late.client });
  else if (late.reserved) post({ t: 'quota.release', user: late.user, client: null });
});
const stats = new Float64Array(data.stats);
const peers = new PeerChannels(data.inbox, {
  deliver(buf, address, p) {
    stats[STAT_CELLS.forwarded]!++;
    backend.injectDatagram(buf, address, p);
  },
  portsChanged: (open) => void (stats[STAT_CELLS.peerChannels] = open),
});
const foreign = new ForeignOwners(data.index, data.threads, (to, buf, address, p) => peers.send(to, buf, address, p));
for (const [client, owner] of data.owners) foreign.set(client, owner);
const gate = new ThreadGate((t, ip, username) => post({ t, ip, username }));

const ledger: QuotaLedger = {
  async take(user: string, client: string | null, fromReservation = false): Promise<QuotaVerdict> {
    let sent = false;
    const answer = await quotaCalls.call((id) => {
      sent = true;
      post({ t: 'quota.take', id, user, client, ...(fromReservation ? { reserved: true as const } : {}) });
    });
    // a reservation's slot is given back unless it passed to the allocation (a late answer gives it back itself)
    const spent = fromReservation && (answer === null ? !sent : answer.verdict !== 'ok');
    if (spent) post({ t: 'quota.release', user, client: null });
    if (answer === null) return 'timeout';
    if (answer.verdict === 'moved' && client !== null && answer.owner !== undefined) foreign.set(client, answer.owner);
    return answer.verdict;
  },
  release(user: string, client: string | null): void {
    post({ t: 'quota.release', user, client });
  },
};

const events = { authFailed: 0, throttledIp: 0, throttledUsername: 0, refused: {} as Partial<Record<TurnRefusal, number>>, any: false };
const eventSink: TurnEvents = {
  authFailed: (count = 1) => {
    events.authFailed += count;
    events.any = true;
  },
  authThrottled: (scope, count = 1) => {
    if (scope === 'ip') events.throttledIp += count;
    else events.throttledUsername += count;
    events.any = true;
  },
  refused: (reason, count = 1) => {
    events.refused[reason] = (events.refused[reason] ?? 0) + count;
    events.any = true;
  },
};

const backend = new NodeTurnBackend({
  listenHost: cfg.listenHost,
  port: cfg.port,
  reusePort: true,
  realm: cfg.realm,
  relayAddress: cfg.relayAddress,
  relayBindHost: cfg.relayBindHost,
  relayPorts: cfg.relayPorts,
  maxLifetimeSec: cfg.maxLifetimeSec,
  peerFilter: new PeerFilter(cfg.peers),
  credentials: new TurnCredentials(new TurnCredentialCache(), {
    async passwordFor(username: string) {
      const answer = await passwords.call((id) => post({ t: 'password', id, username }));
      if (answer === null || answer.credential === 'unanswered') throw new LookupUnanswered();
      return answer.credential;
    },
  }, cfg.credentials),
  quotas: cfg.quotas,
  quotaLedger: ledger,
  liveCounts: stats.subarray(STAT_CELLS.allocations, STAT_CELLS.channels + 1),
  foreign,
  logger,
  relayed: { add: (bytes) => void (stats[STAT_CELLS.relayedBytes]! += bytes) },
  events: eventSink,
  authGate: gate,
  nonce: { key: Buffer.from(cfg.nonceKey), ...(cfg.nonceLifetimeSec ? { lifetimeSec: cfg.nonceLifetimeSec } : {}) },
  ...(cfg.limits ? { limits: cfg.limits as Partial<TurnLimits> } : {}),
  ...(cfg.unmended ? { unmended: new Set(cfg.unmended as NodeTurnDefect[]) } : {}),
});
// connected once the backend exists (a channel delivers to it)
for (const channel of data.peers) peers.connect(channel);

function flush(): void {
  const s = backend.stats();
  stats[STAT_CELLS.relaySockets] = s.relaySockets;
  stats[STAT_CELLS.pendingAllocations] = s.pendingAllocations;
  stats[STAT_CELLS.pendingAuthLookups] = s.pendingAuthLookups;
  stats[STAT_CELLS.engineNonces] = s.engineNonces;
  if (!events.any) return;
  post({ t: 'events', authFailed: events.authFailed, throttledIp: events.throttledIp, throttledUsername: events.throttledUsername, refused: events.refused });
  events.authFailed = events.throttledIp = events.throttledUsername = 0;
  events.refused = {};
  events.any = false;
}
const flusher = setInterval(flush, FLUSH_MS);

function onMessage(raw: unknown): void {
  const m = parseToThread(raw);
  if (!m) return logger.warn('relay thread: malformed message from the main thread dropped');
  switch (m.t) {
    case 'password':
      return passwords.answer(m.id, { credential: m.credential });
    case 'quota':
      return quotaCalls.answer(m.id, m);
    case 'owner':
      return foreign.set(m.client, m.thread);
    case 'gate.ack':
      return gate.acknowledged(m.ip, m.username);
    case 'gate.block':
      return gate.block(m.scope, m.key, m.ms);
    case 'gate.trust':
      return gate.trust(m.ip, m.username, m.ms);
    case 'peer':
      return peers.connect(m);
    case 'stop':
      void stop();
      return;
    case 'crash':
      setImmediate(() => {
        throw new Error('relay thread crash requested (test hook)');
      });
  }
}

async function stop(): Promise<void> {
  clearInterval(flusher);
  peers.close();
  await backend.stop();
  flush();
  passwords.close();
  quotaCalls.close();
  port!.close();
}

backend.onFailure((err) => {
  setImmediate(() => {
    throw err;
  });
});
port.on('message', onMessage);
const bound = await backend.start();
post({ t: 'ready', port: bound.port });
