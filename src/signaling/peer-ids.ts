/**
 * Peer ids (docs/protocol.md): base64 of 10 cryptographically random bytes.
 */
import { randomBytes } from 'node:crypto';

const PEER_ID_BYTES = 10;
const POOL_IDS = 256;

/**
 * Makes peer ids: base64 of 10 cryptographically random bytes, 16 characters
 * ending in `==` (docs/protocol.md). Bytes are drawn from a pool refilled 256 ids
 * at a time, so a connection costs no call into the random source of its own.
 * One per listener.
 */
export class PeerIds {
  private pool = Buffer.alloc(0);
  private offset = 0;

  next(): string {
    if (this.offset + PEER_ID_BYTES > this.pool.length) {
      this.pool = randomBytes(PEER_ID_BYTES * POOL_IDS);
      this.offset = 0;
    }
    const id = this.pool.toString('base64', this.offset, this.offset + PEER_ID_BYTES);
    this.offset += PEER_ID_BYTES;
    return id;
  }
}
