/**
 * `lookup` for the TURN UDP sockets (the listening socket and the relay
 * sockets). dgram resolves the address of every datagram it sends through
 * `dns.lookup`, which answers an IP literal on the next tick: one queued
 * tick, and the callback scope's run of the tick queue, per relayed packet.
 * Every address TURN sends to is an IP literal (a client's source address,
 * a peer address from XOR-PEER-ADDRESS or from a relay socket's rinfo), so
 * this answers those at once; anything else still goes to `dns.lookup`.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupOneOptions } from 'node:dns';
import { isIPv4 } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

export function literalLookup(hostname: string, options: LookupOneOptions | number, callback: LookupCallback): void {
  if (isIPv4(hostname)) {
    callback(null, hostname, 4);
    return;
  }
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}
