/**
 * The main thread's CPU while relay threads forward datagrams
 * (docs/turn-threads.md, "Affinity after a restart"), tree A against tree
 * B, alternating per round: a server with `turnThreads: 2` (the relay-thread
 * tests' setup, test/turn/thread-helpers.ts) takes 32 allocations from a
 * generator process, thread 1 is crashed and restarted (the kernel then
 * gives the clients of thread 2 to the new thread 1, which forwards their
 * datagrams to thread 2), and the generator sends Send indications from
 * every client (about 3,200/s) for `--seconds`. Printed per run: datagrams
 * forwarded, the main thread's CPU and the relay threads' (from
 * /proc/self/task, clock ticks of 10 ms), and main-thread CPU per 1,000
 * forwarded datagrams; then the medians.
 *
 *   npx tsx bench/turn-forwarding-cpu.ts --a /tmp/baseline-tree [--b .] [--rounds 3] [--seconds 5]
 *
 * Tree A needs its own node_modules (a symlink to this one's will do). Each
 * server runs with its tree as working directory (tsx takes that tree's
 * tsconfig), the generator in a process of its own.
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { roundedMedian } from './suites/common.js';

const CLIENTS = 32;
/** The generator sends one Send indication per client every this many ms. */
const SEND_EVERY_MS = 10;
const CLOCK_TICKS_PER_SECOND = 100;
const self = fileURLToPath(import.meta.url);

interface Run {
  forwarded: number;
  mainCpuSec: number;
  relayCpuSec: number;
  seconds: number;
}

/** CPU seconds of this process's threads that `which` picks (by thread id and name). */
function threadCpu(which: (tid: string, name: string) => boolean): number {
  let ticks = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (!which(tid, readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim())) continue;
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

function nextMessage<T>(child: NodeJS.Process | ReturnType<typeof fork>): Promise<T> {
  return new Promise((res) => child.once('message', (m) => res(m as T)));
}

/** The generator: allocations, permissions, then Send indications on "go"; answers how many it sent. */
async function generate(tree: string, port: number, seconds: number): Promise<void> {
  const { RawTurnClient } = await import(pathToFileURL(`${tree}/test/turn/helpers.ts`).href);
  const server = { address: '127.0.0.1', port };
  const peer = createSocket('udp4');
  peer.on('message', () => {});
  await new Promise<void>((res) => peer.bind(0, '127.0.0.1', () => res()));
  const peerAddress = { address: '127.0.0.1', port: peer.address().port };
  const clients: { sendIndication(peer: object, data: Buffer): void; close(): void }[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = await RawTurnClient.open(server, 'alice', 'alice-pw');
    await client.allocate();
    await client.createPermission(peerAddress);
    clients.push(client);
  }
  process.send!('ready');
  await nextMessage(process);
  const payload = Buffer.alloc(100, 1);
  let sent = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const client of clients) client.sendIndication(peerAddress, payload);
    sent += clients.length;
    await new Promise((res) => setTimeout(res, SEND_EVERY_MS));
  }
  process.send!(sent);
  for (const client of clients) client.close();
  peer.close();
}

/** The server of one run (working directory: its tree); answers a Run. */
async function serve(tree: string, seconds: number): Promise<void> {
  const { startThreads } = await import(pathToFileURL(`${tree}/test/turn/thread-helpers.ts`).href);
  const { poll } = await import(pathToFileURL(`${tree}/test/helpers/wait.ts`).href);
  const r = await startThreads({ turnMaxAllocationsPerUser: 1000, turnMaxAllocations: 1000 });
  const generator = fork(self, ['--generate', tree, '--port', String(r.server.port), '--seconds', String(seconds)], { execArgv: ['--import', 'tsx'] });
  await nextMessage(generator);
  r.hub.crash(1);
  const relay1 = () => r.sup.whichChildren()[0]!;
  if (!(await poll(() => relay1().restarts === 1 && relay1().state === 'running', 10_000, 50))) throw new Error('turn_relay_1 did not restart');
  await new Promise((res) => setTimeout(res, 300));
  const main = () => threadCpu((tid) => tid === String(process.pid));
  const relays = () => threadCpu((_tid, name) => name.startsWith('turn_relay'));
  const before = { forwarded: r.hub.forwardedDatagrams() as number, main: main(), relays: relays(), at: performance.now() };
  generator.send('go');
  await nextMessage(generator);
  await new Promise((res) => setTimeout(res, 200));
  const run: Run = {
    forwarded: r.hub.forwardedDatagrams() - before.forwarded,
    mainCpuSec: main() - before.main,
    relayCpuSec: relays() - before.relays,
    seconds: (performance.now() - before.at) / 1000,
  };
  process.send!(run);
  await r.sup.stop();
}

async function compare(trees: Record<'A' | 'B', string>, rounds: number, seconds: number): Promise<void> {
  const perThousand: Record<'A' | 'B', number[]> = { A: [], B: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const side of ['A', 'B'] as const) {
      const child = fork(self, ['--serve', trees[side], '--seconds', String(seconds)], { cwd: trees[side], execArgv: ['--import', 'tsx'] });
      const run = await nextMessage<Run>(child);
      await new Promise((res) => child.once('exit', res));
      const ms = run.forwarded > 0 ? (run.mainCpuSec * 1e6) / run.forwarded : Number.NaN;
      perThousand[side].push(ms);
      console.log(`round ${round} ${side}: ${run.forwarded} forwarded in ${run.seconds.toFixed(1)} s; main thread ${run.mainCpuSec.toFixed(2)} CPU-s (${ms.toFixed(1)} ms per 1k forwarded), relay threads ${run.relayCpuSec.toFixed(2)} CPU-s`);
    }
  }
  console.log(`median main-thread CPU per 1k forwarded datagrams: A ${roundedMedian(perThousand.A, 1)} ms, B ${roundedMedian(perThousand.B, 1)} ms`);
}

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    serve: { type: 'string' },
    generate: { type: 'string' },
    port: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (values.generate) await generate(values.generate, Number(values.port), seconds);
else if (values.serve) await serve(values.serve, seconds);
else if (!values.a) throw new Error('--a <tree> is required');
else await compare({ A: resolve(values.a), B: resolve(values.b) }, Number(values.rounds), seconds);
