/**
 * One TURN relay thread as the main thread supervises it (a child of
 * turn_sup: turn_relay_<index>, permanent): a worker thread running
 * relay-thread-main.ts. It is started when the thread has bound its UDP
 * socket; it exits with an error when the thread dies (an uncaught error, a
 * failed socket, an exit), and then the hub gives back everything the thread
 * held (relay-hub.ts). `stop()` asks the thread to close its sockets and
 * waits for its exit; `kill()` terminates it.
 */
import { Worker as NodeWorker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ExitLink } from '../otp/worker.js';
import type { ExitReason, Worker } from '../otp/worker.js';
import type { RelayHub } from './relay-hub.js';
import { parseFromThread } from './relay-thread-protocol.js';
import type { ThreadData, ToThread } from './relay-thread-protocol.js';

/** Ms a thread has to bind its socket and say so. */
const START_TIMEOUT_MS = 15_000;

/** The thread's entry: the .ts source under tsx (tests), the .js build otherwise. */
function entry(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './relay-thread-main.ts' : './relay-thread-main.js', import.meta.url);
}

export class RelayThread implements Worker {
  private readonly link = new ExitLink();
  private stopping = false;
  private readonly exited: Promise<void>;
  private markExited!: () => void;
  /** The UDP port the thread bound. */
  port = 0;

  private constructor(
    private readonly worker: NodeWorker,
    readonly index: number,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  /** Starts thread `index` with `data` (its config, shared memory, the directory now); resolves once it listens. */
  static start(hub: RelayHub, index: number, data: ThreadData, logger: Logger): Promise<RelayThread> {
    // named: `top -H` and /proc/<pid>/task/*/comm show turn_relay_<index>
    // the channels' ports move to the thread (not started: closed, the other threads see their ends close)
    let worker: NodeWorker;
    try {
      worker = new NodeWorker(entry(), { workerData: data, transferList: data.peers.map((p) => p.port), name: `turn_relay_${index}` });
    } catch (err) {
      for (const { port } of data.peers) port.close();
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const thread = new RelayThread(worker, index);
    hub.attach(index, { post: (m: ToThread, transfer?: MessagePort[]) => worker.postMessage(m, transfer) }, data.stats, data.inbox);
    return new Promise((resolve, reject) => {
      let ready = false;
      let failure: Error | null = null;
      const timer = setTimeout(() => {
        failure = new Error(`TURN relay thread ${index} did not start within ${START_TIMEOUT_MS} ms`);
        void worker.terminate();
      }, START_TIMEOUT_MS);
      worker.on('message', (raw: unknown) => {
        const m = parseFromThread(raw);
        if (!m) {
          logger.warn({ turnThread: index }, 'malformed message from a TURN relay thread dropped');
          return;
        }
        if (m.t === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          thread.port = m.port;
          resolve(thread);
        }
        hub.fromThread(index, m);
      });
      worker.on('error', (err: Error) => {
        failure ??= err;
      });
      worker.on('exit', (code: number) => {
        clearTimeout(timer);
        hub.detach(index);
        thread.markExited();
        if (!ready) reject(failure ?? new Error(`TURN relay thread ${index} exited (code ${code}) before listening`));
        else if (!thread.stopping) thread.link.exit(failure ?? new Error(`TURN relay thread ${index} exited (code ${code})`));
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.worker.postMessage({ t: 'stop' } satisfies ToThread);
    }
    await this.exited;
  }

  kill(): void {
    this.stopping = true;
    void this.worker.terminate();
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.link.onExit(listener);
  }
}
