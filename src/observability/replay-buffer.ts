/**
 * The last messages, bounded twice: at most `maxMessages` of them and at most
 * `maxBytes` bytes in all. The oldest go first. A message larger than
 * `maxBytes` on its own is not kept.
 */
export class ReplayBuffer {
  private readonly messages: { text: string; bytes: number }[] = [];
  private total = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  push(text: string, bytes = Buffer.byteLength(text)): void {
    if (bytes > this.maxBytes) return;
    this.messages.push({ text, bytes });
    this.total += bytes;
    while (this.messages.length > this.maxMessages || this.total > this.maxBytes) {
      this.total -= this.messages.shift()!.bytes;
    }
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const m of this.messages) yield m.text;
  }

  get length(): number {
    return this.messages.length;
  }

  get bytes(): number {
    return this.total;
  }
}
