/**
 * Frames for other servers, gathered per event-loop turn into one PUBLISH
 * per channel where order allows, and all of a turn's PUBLISHes written at
 * once. One PUBLISH per frame cost a write system call and a Redis command
 * each, the top cost of a server in a cluster (bench, `--only cluster`).
 *
 * Order per sender is kept: a recipient hears one room's channel and its
 * server's channel. Records for different rooms (a member is in one room)
 * or for different servers never share a recipient and may be regrouped;
 * a room record is never moved before a server record added earlier than
 * it, nor a server record before an earlier room record. The batch leaves
 * at the end of the turn (setImmediate), before any script the link runs
 * (`flush()`), or at once when it holds `maxRecords` or `maxBytes`.
 *
 * A channel message: `<origin node>\n`, then per record
 * `<tag><peer>\n<frame length>\n<frame>`; tag `b` a frame for a room (peer:
 * the one member it skips, or empty), `u` a frame for one peer, `k` a kick
 * (no frame).
 */

export type RecordTag = 'b' | 'u' | 'k';

export interface FrameRecord {
  tag: RecordTag;
  peer: string;
  frame: Buffer;
}

/** Whose recipients a channel reaches: one room's members, or one server's. */
export type ChannelKind = 'room' | 'node';

export interface BatchLimits {
  maxRecords: number;
  maxBytes: number;
}

export const DEFAULT_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({ maxRecords: 1_024, maxBytes: 1024 * 1024 });

interface Entry {
  channel: string;
  records: FrameRecord[];
}

const EMPTY = Buffer.alloc(0);

export class PublishBatcher {
  private entries: Entry[] = [];
  /** Channel → index of its latest entry. */
  private latest = new Map<string, number>();
  private lastRoom = -1;
  private lastNode = -1;
  private records = 0;
  private bytes = 0;
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly origin: string,
    /** Writes one turn's messages, in order. */
    private readonly send: (messages: { channel: string; message: Buffer }[]) => void,
    private readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  ) {}

  add(channel: string, kind: ChannelKind, record: FrameRecord): void {
    const at = this.latest.get(channel);
    const barrier = kind === 'room' ? this.lastNode : this.lastRoom;
    let index: number;
    if (at !== undefined && at > barrier) {
      index = at;
      this.entries[at]!.records.push(record);
    } else {
      index = this.entries.push({ channel, records: [record] }) - 1;
      this.latest.set(channel, index);
    }
    if (kind === 'room') this.lastRoom = Math.max(this.lastRoom, index);
    else this.lastNode = Math.max(this.lastNode, index);
    this.records++;
    this.bytes += record.frame.length + record.peer.length + 16;
    if (this.records >= this.limits.maxRecords || this.bytes >= this.limits.maxBytes) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Sends what is gathered now. */
  flush(): void {
    const entries = this.take();
    if (entries.length > 0) this.send(entries.map((e) => ({ channel: e.channel, message: encodeBatch(this.origin, e.records) })));
  }

  /** Drops what is gathered (the link is closing: frames are not queued for later). */
  clear(): void {
    this.take();
  }

  private take(): Entry[] {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const entries = this.entries;
    this.entries = [];
    this.latest = new Map();
    this.lastRoom = -1;
    this.lastNode = -1;
    this.records = 0;
    this.bytes = 0;
    return entries;
  }
}

export function encodeBatch(origin: string, records: readonly FrameRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`${origin}\n`)];
  for (const r of records) parts.push(Buffer.from(`${r.tag}${r.peer}\n${r.frame.length}\n`), r.frame);
  return Buffer.concat(parts);
}

/** The records of a channel message; throws on a malformed one. */
export function decodeBatch(message: Buffer): { origin: string; records: FrameRecord[] } {
  const line = (from: number): [string, number] => {
    const end = message.indexOf(10, from);
    if (end < 0) throw new Error('cluster message: line without end');
    return [message.toString('utf8', from, end), end + 1];
  };
  let [origin, at] = line(0);
  const records: FrameRecord[] = [];
  while (at < message.length) {
    const tag = String.fromCharCode(message[at]!);
    if (tag !== 'b' && tag !== 'u' && tag !== 'k') throw new Error(`cluster message: unknown record ${JSON.stringify(tag)}`);
    const [peer, afterPeer] = line(at + 1);
    const [lengthText, afterLength] = line(afterPeer);
    const length = Number(lengthText);
    if (!Number.isInteger(length) || length < 0 || afterLength + length > message.length) throw new Error('cluster message: bad frame length');
    records.push({ tag, peer, frame: length === 0 ? EMPTY : message.subarray(afterLength, afterLength + length) });
    at = afterLength + length;
  }
  return { origin, records };
}
