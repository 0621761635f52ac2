/**
 * The main thread's side of the TURN relay threads (docs/turn-threads.md),
 * one per server, outliving every thread's restart: the authority for what
 * the threads share, and the sum of what they count.
 *
 *  - passwords: a thread's lookup is answered from the credential cache
 *    signaling fills, else by `auth` through one `TurnCredentials` (deduped
 *    per username, at most `maxPending` in flight, a deadline shorter than
 *    the threads': a hung `auth` answers "unanswered", nothing piles up);
 *  - quota slots and the directory of clients (SharedQuota), changes of the
 *    directory sent to every other thread;
 *  - the guess throttle: reports of the threads' checks go to the server's
 *    `GuessThrottle` (shared with signaling), which answers each one and
 *    pushes blocks and trusted IPs to every thread (thread-gate.ts);
 *  - the channels between relay threads (a MessageChannel per pair, made
 *    when the later of two starts; forwarded datagrams go over them, never
 *    through this thread: peer-channels.ts);
 *  - statistics: each thread's cells of shared memory, read synchronously
 *    (O(threads)); the relayed bytes and forwarded datagrams of threads
 *    that died are kept.
 *  - events and log lines of the threads, to the server's metrics and logger.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { GuessThrottle } from '../auth/guess-throttle.js';
import type { TurnCredentialCache } from './credential-cache.js';
import { TurnCredentials } from './credentials.js';
import type { QuotaLimits } from './quota.js';
import { MAX_RELAY_THREADS, STAT_CELL_COUNT, STAT_CELLS } from './relay-thread-protocol.js';
import type { FromThread, PeerChannel, ThreadConfig, ToThread } from './relay-thread-protocol.js';
import { SharedQuota } from './shared-quota.js';
import type { TurnEvents, TurnRefusal, TurnStats } from './turn-backend.js';

/** Deadline of the main thread's own password lookups (the threads wait 2.5 s). */
const PASSWORD_DEADLINE_MS = 2_000;
/** Lookups of `auth` in flight for all threads. */
const PASSWORD_MAX_PENDING = 256;

/** A running relay thread as the hub sees it. */
export interface ThreadLink {
  /** `transfer`: the message's ports, moved to the thread. */
  post(message: ToThread, transfer?: MessagePort[]): void;
}

export interface RelayHubDeps {
  logger: Logger;
  /** The server's credential cache (read when first needed: tests register their own). */
  cache: () => TurnCredentialCache;
  authenticator: Pick<Authenticator, 'passwordFor'>;
  gate: GuessThrottle | null;
  events: TurnEvents | null;
  quotas: QuotaLimits;
  /** Relay threads to run. */
  threads: number;
}

const RELAYED_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal',
};

export class RelayHub {
  readonly quota: SharedQuota;
  readonly nonceKey = randomBytes(32);
  /** The UDP port every thread binds (the first one's, with `turnPort: 0`). */
  port: number | null = null;
  /** The configuration every thread starts with, once worked out (relay address resolved). */
  config: Omit<ThreadConfig, 'port' | 'nonceKey'> | null = null;
  /** Running threads: how to reach each, its statistics, its inbox (datagrams in flight to it, peer-channels.ts). */
  private readonly links = new Map<number, { link: ThreadLink; stats: Float64Array; inbox: SharedArrayBuffer }>();
  private passwordBroker: TurnCredentials | null = null;
  private retiredRelayedBytes = 0;
  private retiredForwarded = 0;
  /** Quota refusals (486/508) per thread index, since the server started. */
  private readonly quotaRefused = new Array<number>(MAX_RELAY_THREADS + 1).fill(0);

  constructor(private readonly deps: RelayHubDeps) {
    this.quota = new SharedQuota(deps.quotas);
  }

  get threads(): number {
    return this.deps.threads;
  }

  /**
   * Channels for thread `index`, about to start with inbox `inbox`: one to
   * every running thread, whose far end is posted to that thread now (it
   * replaces the channel to an earlier start of `index` there). The ends
   * returned go in the new thread's start data, transferred. This thread
   * keeps no port.
   */
  channelsFor(index: number, inbox: SharedArrayBuffer): PeerChannel[] {
    const channels: PeerChannel[] = [];
    for (const [peer, entry] of this.links) {
      if (peer === index) continue;
      const { port1, port2 } = new MessageChannel();
      entry.link.post({ t: 'peer', thread: index, port: port2, inbox }, [port2]);
      channels.push({ thread: peer, port: port1, inbox: entry.inbox });
    }
    return channels;
  }

  /** Thread `index` started: its shared statistics and inbox, and the messages to send it. */
  attach(index: number, link: ThreadLink, stats: SharedArrayBuffer, inbox: SharedArrayBuffer): void {
    this.links.set(index, { link, stats: new Float64Array(stats), inbox });
  }

  /** Thread `index` is gone: its slots and clients are given back, its relayed bytes kept. */
  detach(index: number): void {
    const entry = this.links.get(index);
    if (!entry) return;
    this.links.delete(index);
    this.retiredRelayedBytes += entry.stats[STAT_CELLS.relayedBytes]!;
    this.retiredForwarded += entry.stats[STAT_CELLS.forwarded]!;
    for (const client of this.quota.releaseAll(index)) this.broadcast({ t: 'owner', client, thread: null }, index);
  }

  /** A message from thread `index` (already validated). */
  fromThread(index: number, m: FromThread): void {
    switch (m.t) {
      case 'password':
        return this.password(index, m.id, m.username);
      case 'quota.take': {
        const verdict = this.quota.take(index, m.user, m.client, m.reserved === true);
        const moved = typeof verdict === 'object';
        if (verdict === 'user' || verdict === 'total') this.quotaRefused[index]!++;
        this.send(index, {
          t: 'quota', id: m.id, user: m.user, client: m.client, verdict: moved ? 'moved' : verdict,
          ...(moved ? { owner: verdict.moved } : {}), ...(m.reserved ? { reserved: true } : {}),
        });
        if (verdict === 'ok' && m.client !== null) this.broadcast({ t: 'owner', client: m.client, thread: index }, index);
        return;
      }
      case 'quota.release':
        if (this.quota.release(index, m.user, m.client) && m.client !== null) this.broadcast({ t: 'owner', client: m.client, thread: null }, index);
        return;
      case 'gate.admit':
        return this.admitted(index, m.ip, m.username);
      case 'gate.succeeded':
        this.deps.gate?.succeeded(m.ip, m.username);
        if (this.deps.gate) this.broadcast({ t: 'gate.trust', ip: m.ip, username: m.username, ms: this.deps.gate.trustedMs });
        return;
      case 'events':
        return this.applyEvents(m);
      case 'log':
        return this.log(index, m.line, m.suppressed);
      case 'ready':
        return;
    }
  }

  /** Every thread's counts, summed; O(threads). */
  stats(): Omit<TurnStats, 'streams'> {
    const sum = { allocations: 0, permissions: 0, channels: 0, relayedBytes: this.retiredRelayedBytes, relaySockets: 0, pendingAllocations: 0, pendingAuthLookups: 0, engineNonces: 0 };
    for (const { stats } of this.links.values()) {
      for (const name of Object.keys(sum) as (keyof typeof sum)[]) sum[name] += stats[STAT_CELLS[name]]!;
    }
    return sum;
  }

  /** Thread `index`'s own counts (tests: which thread holds which allocations), or null when it is not running. */
  threadStats(index: number): { allocations: number; relayedBytes: number; forwarded: number; peerChannels: number; quotaRefused: number } | null {
    const stats = this.links.get(index)?.stats;
    return stats
      ? {
        allocations: stats[STAT_CELLS.allocations]!, relayedBytes: stats[STAT_CELLS.relayedBytes]!, forwarded: stats[STAT_CELLS.forwarded]!,
        peerChannels: stats[STAT_CELLS.peerChannels]!, quotaRefused: this.quotaRefused[index]!,
      }
      : null;
  }

  /** Allocations of each running thread, by index (`webrtc_turn_thread_allocations{thread}`). */
  allocationsByThread(): [number, number][] {
    return [...this.links].map(([index, { stats }]) => [index, stats[STAT_CELLS.allocations]!]);
  }

  /**
   * Datagrams forwarded from the thread the kernel gave them to, to the thread owning their
   * client, and handled there; those of threads that died included (`webrtc_turn_forwarded_datagrams_total`).
   */
  forwardedDatagrams(): number {
    let sum = this.retiredForwarded;
    for (const { stats } of this.links.values()) sum += stats[STAT_CELLS.forwarded]!;
    return sum;
  }

  /** Relayed bytes of every thread, those that died included (the server's counter reads this). */
  relayedBytes(): number {
    let sum = this.retiredRelayedBytes;
    for (const { stats } of this.links.values()) sum += stats[STAT_CELLS.relayedBytes]!;
    return sum;
  }

  /** The thread holding `client`'s ("ip:port") allocation. */
  ownerOf(client: string): number | undefined {
    return this.quota.ownerOf(client);
  }

  newStatsBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(8 * STAT_CELL_COUNT);
  }

  /** A thread start's inbox: one Int32, datagrams forwarded to it and not yet taken (peer-channels.ts). */
  newInbox(): SharedArrayBuffer {
    return new SharedArrayBuffer(4);
  }

  /** Test hook: thread `index` throws an uncaught error. */
  crash(index: number): void {
    this.send(index, { t: 'crash' });
  }

  private send(index: number, message: ToThread): void {
    this.links.get(index)?.link.post(message);
  }

  private broadcast(message: ToThread, except = 0): void {
    for (const [index, { link }] of this.links) if (index !== except) link.post(message);
  }

  private get passwords(): TurnCredentials {
    this.passwordBroker ??= new TurnCredentials(this.deps.cache(), this.deps.authenticator, {
      timeoutMs: PASSWORD_DEADLINE_MS, maxPending: PASSWORD_MAX_PENDING, maxPendingPerSource: PASSWORD_MAX_PENDING,
    });
    return this.passwordBroker;
  }

  private password(index: number, id: number, username: string): void {
    const answer = () => {
      const credential = this.passwords.cache.lookup(username);
      this.send(index, { t: 'password', id, credential: credential === undefined ? 'unanswered' : credential && { password: credential.password, name: credential.name } });
    };
    const lookup = this.passwords.fetch(username, 'relay-threads');
    if (lookup === 'busy') this.send(index, { t: 'password', id, credential: 'unanswered' });
    else if (lookup === null) answer();
    else void lookup.then((answered) => (answered ? answer() : this.send(index, { t: 'password', id, credential: 'unanswered' })));
  }

  private admitted(index: number, ip: string, username: string): void {
    const gate = this.deps.gate;
    if (!gate) return this.send(index, { t: 'gate.ack', ip, username });
    gate.admit(ip, username); // refused: the thread's check went beyond the limit (the overshoot bound); no token taken
    this.send(index, { t: 'gate.ack', ip, username });
    const waits = gate.waits(ip, username);
    if (waits.ip > 0) this.broadcast({ t: 'gate.block', scope: 'ip', key: ip, ms: waits.ip });
    if (waits.username > 0) this.broadcast({ t: 'gate.block', scope: 'username', key: username, ms: waits.username });
  }

  private applyEvents(m: Extract<FromThread, { t: 'events' }>): void {
    const events = this.deps.events;
    if (!events) return;
    // one call per count, not per event: a thread under a flood reports many refusals per batch
    if (m.authFailed > 0) events.authFailed(m.authFailed);
    if (m.throttledIp > 0) events.authThrottled('ip', m.throttledIp);
    if (m.throttledUsername > 0) events.authThrottled('username', m.throttledUsername);
    for (const [reason, n] of Object.entries(m.refused) as [TurnRefusal, number][]) if (n > 0) events.refused(reason, n);
  }

  private log(index: number, line: string, suppressed: number): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (record === null || typeof record !== 'object') return;
    const { level, msg, time: _time, ...fields } = record;
    const method = RELAYED_LEVELS[typeof level === 'number' ? level : 30] ?? 'info';
    this.deps.logger[method]({ ...fields, turnThread: index, ...(suppressed > 0 ? { suppressedLines: suppressed } : {}) }, typeof msg === 'string' ? msg : '');
  }
}
