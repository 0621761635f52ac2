/**
 * A relay thread's direct channels to the other relay threads
 * (docs/turn-threads.md, "Affinity after a restart"): one MessageChannel per
 * pair of running threads, made by the main thread when the later of the two
 * starts (its end in the new thread's start data, the other end posted to
 * the running thread), so a datagram that reached the wrong thread goes to
 * its owner without passing through the main thread.
 *
 * Bounded as before: at most `maxInFlight` datagrams in flight to one thread
 * (its inbox, an Int32 in shared memory: every sender adds, the receiver
 * subtracts; beyond, `send` refuses and the datagram is dropped as UDP may
 * drop it), and an arrival older than `deadlineMs` is dropped. The inbox
 * belongs to one start of a thread: a restarted thread gets a fresh one, so
 * datagrams lost with a dead thread hold no slot of its successor.
 *
 * A channel ends when the thread at the other end dies or stops (its port
 * closes with it; Node delivers what it had posted first, so every slot it
 * took in this thread's inbox is given back). Then it is forgotten and never
 * posted to again. A newer channel to the same thread (its restart) takes
 * its place at once; the old one is not posted to any more and is only read
 * until its close comes (the datagrams the dead thread sent still free
 * their slots). `close()` ends them all (the thread stops).
 */
import type { MessagePort } from 'node:worker_threads';
import { parsePeerDatagram } from './relay-thread-protocol.js';
import type { PeerChannel, PeerDatagram } from './relay-thread-protocol.js';

export interface PeerChannelsOptions {
  /** Datagrams in flight to one thread at most. */
  maxInFlight: number;
  /** A datagram older than this on arrival is dropped, ms. */
  deadlineMs: number;
  /** Ms since the epoch (sender and receiver are different threads: one clock for both). */
  now?: () => number;
}

export const PEER_CHANNEL_DEFAULTS: Readonly<PeerChannelsOptions> = Object.freeze({ maxInFlight: 1024, deadlineMs: 1_000 });

/** Where a datagram taken from a channel goes (the thread's adapter), and who hears how many ports are open. */
export interface PeerChannelsSink {
  deliver(buf: Buffer, address: string, port: number): void;
  portsChanged?(open: number): void;
}

interface Open {
  port: MessagePort;
  inbox: Int32Array;
}

export class PeerChannels {
  /** The channel to post to, per thread. */
  private readonly open = new Map<number, Open>();
  /** Every port not yet closed: those in `open`, and replaced ones still being read. */
  private readonly ports = new Set<MessagePort>();
  private readonly inbox: Int32Array;
  private readonly now: () => number;
  private closed = false;
  /** Arrivals dropped: older than the deadline, or malformed. */
  expired = 0;

  constructor(
    /** This thread's inbox (one Int32). */
    inbox: SharedArrayBuffer,
    private readonly sink: PeerChannelsSink,
    private readonly options: PeerChannelsOptions = PEER_CHANNEL_DEFAULTS,
  ) {
    this.inbox = new Int32Array(inbox, 0, 1);
    this.now = options.now ?? Date.now;
  }

  /** Channels open now. */
  get size(): number {
    return this.open.size;
  }

  /** The channel to `thread`, taking the place of an older one to it; closed at once after `close()`. */
  connect({ thread, port, inbox }: PeerChannel): void {
    if (this.closed) return port.close(); // it came after `stop`
    const channel: Open = { port, inbox: new Int32Array(inbox, 0, 1) };
    this.open.set(thread, channel);
    this.ports.add(port);
    port.on('message', (raw: unknown) => this.receive(raw));
    port.once('close', () => {
      this.ports.delete(port);
      if (this.open.get(thread) === channel) this.open.delete(thread);
      this.sink.portsChanged?.(this.ports.size);
    });
    this.sink.portsChanged?.(this.ports.size);
  }

  /** Ports not closed yet: the channels open, and replaced ones whose far end has not closed yet. */
  get portsOpen(): number {
    return this.ports.size;
  }

  /** Hands a datagram to thread `to`: false (nothing sent) when no channel is open to it or its inbox is full. */
  send(to: number, buf: Buffer, address: string, port: number): boolean {
    const channel = this.open.get(to);
    if (!channel) return false;
    if (Atomics.add(channel.inbox, 0, 1) >= this.options.maxInFlight) {
      Atomics.sub(channel.inbox, 0, 1);
      return false;
    }
    channel.port.postMessage({ buf, address, port, at: this.now() } satisfies PeerDatagram);
    return true;
  }

  /** Closes every channel (the thread stops). */
  close(): void {
    this.closed = true;
    for (const port of this.ports) port.close();
    this.ports.clear();
    this.open.clear();
    this.sink.portsChanged?.(0);
  }

  private receive(raw: unknown): void {
    Atomics.sub(this.inbox, 0, 1);
    const datagram = parsePeerDatagram(raw);
    if (!datagram || this.now() - datagram.at > this.options.deadlineMs) {
      this.expired++;
      return;
    }
    const { buf, address, port } = datagram;
    this.sink.deliver(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), address, port);
  }
}
