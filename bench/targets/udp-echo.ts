/**
 * The TURN suite's echo peer when coturn's `turnutils_peer` is not installed:
 * every datagram to 127.0.0.1:<argv port> goes back to its sender. Exits
 * with its parent.
 */
import { createSocket } from 'node:dgram';

const port = Number(process.argv[2]);
const socket = createSocket('udp4');
socket.on('message', (data, rinfo) => socket.send(data, rinfo.port, rinfo.address));
socket.on('error', () => {});
socket.bind(port, '127.0.0.1');
// Bounded life: a peer left behind exits after 15 minutes whatever happens.
setTimeout(() => process.exit(0), 15 * 60_000).unref();
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
