/**
 * A supervisor of children started at run time from one template, like OTP's
 * `simple_one_for_one` (rooms, connections). Children start synchronously,
 * are found by id, and on shutdown are all told to stop at once, as OTP does
 * for dynamic children, then awaited.
 */
import type { Logger } from 'pino';
import { SupervisorError, SupervisorErrorCode } from './errors.js';
import { shouldRestart } from './supervisor.js';
import type { ChildInfo, Inspectable } from './supervisor.js';
import { ExitLink, isCrash, RestartIntensity, shutdownWorker } from './worker.js';
import type { ChildSpec, ExitReason, SupervisorObserver, Worker } from './worker.js';
import type { NameRegistry } from './registry.js';

export type ChildTemplate = Pick<ChildSpec, 'restart' | 'shutdown' | 'type'>;

interface DynamicChild<W extends Worker> {
  worker: W;
  readonly start: () => W;
  restarts: number;
}

export class DynamicSupervisor<W extends Worker> implements Worker, Inspectable {
  private readonly children = new Map<string, DynamicChild<W>>();
  private readonly intensity: RestartIntensity;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private stopping: Promise<void> | null = null;
  private readonly supervisorLink = new ExitLink();

  constructor(
    readonly name: string,
    private readonly flags: { intensity: number; period: number },
    private readonly template: ChildTemplate,
    private readonly logger: Logger,
    /** Registers the supervisor under its name while it runs (OTP's `{local, Name}`). */
    private readonly registry: NameRegistry | null = null,
    private readonly observer: SupervisorObserver = {},
  ) {
    this.intensity = new RestartIntensity(flags.intensity, flags.period);
    registry?.register(name, this);
    this.notify();
  }

  private notify(): void {
    this.observer.changed?.(this.name, { state: this.state, children: this.children.size });
  }

  get size(): number {
    return this.children.size;
  }

  /** Starts a child under `id` (unique). Throws if the supervisor is stopping. */
  startChild(id: string, start: () => W): W {
    if (this.state !== 'running') throw new SupervisorError(SupervisorErrorCode.NOT_RUNNING, `${this.name} is ${this.state}`);
    if (this.children.has(id)) throw new Error(`${this.name}: child ${id} already exists`);
    const child: DynamicChild<W> = { worker: start(), start, restarts: 0 };
    this.children.set(id, child);
    this.link(id, child);
    this.notify();
    return child.worker;
  }

  child(id: string): W | undefined {
    return this.children.get(id)?.worker;
  }

  /** Every running child, in start order. */
  workers(): W[] {
    return [...this.children.values()].map((c) => c.worker);
  }

  async terminateChild(id: string): Promise<void> {
    const child = this.children.get(id);
    if (!child) return;
    this.children.delete(id);
    await shutdownWorker(child.worker, this.template.shutdown);
  }

  whichChildren(): ChildInfo[] {
    return [...this.children].map(([id, c]) => ({
      id,
      type: this.template.type,
      restart: this.template.restart,
      state: 'running',
      restarts: c.restarts,
    }));
  }

  /** Tells every child to stop at once, then waits for all of them. Idempotent: every call resolves when all have stopped. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      this.registry?.unregister(this.name, this);
      const children = [...this.children];
      this.children.clear();
      const outcomes = await Promise.all(children.map(([, c]) => shutdownWorker(c.worker, this.template.shutdown)));
      const killed = outcomes.filter((o) => o === 'killed').length;
      if (killed > 0) this.logger.warn({ supervisor: this.name, killed }, 'children did not stop in time: killed');
      this.state = 'stopped';
      this.notify();
    })();
    return this.stopping;
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisorLink.onExit(listener);
  }

  private link(id: string, child: DynamicChild<W>): void {
    const worker = child.worker;
    worker.onExit((reason) => {
      if (this.children.get(id) !== child || child.worker !== worker) return;
      if (isCrash(reason)) this.logger.error({ err: reason, supervisor: this.name, child: id }, 'child crashed');
      if (this.state !== 'running' || !shouldRestart(this.template, reason)) {
        this.children.delete(id);
        if (this.state === 'running') this.notify();
        return;
      }
      if (!this.intensity.add()) {
        this.children.delete(id);
        void this.escalate();
        return;
      }
      child.restarts++;
      try {
        child.worker = child.start();
        this.link(id, child);
        this.observer.restarted?.(this.name, id);
      } catch (err) {
        this.children.delete(id);
        this.logger.error({ err, supervisor: this.name, child: id }, 'child failed to restart');
      }
    });
  }

  private async escalate(): Promise<void> {
    this.logger.error({ supervisor: this.name, ...this.flags }, 'restart intensity reached: shutting down and escalating');
    await this.stop();
    const reason = new SupervisorError(SupervisorErrorCode.MAX_RESTART_INTENSITY,
      `${this.name}: more than ${this.flags.intensity} restarts in ${this.flags.period} ms`,
    );
    this.supervisorLink.exit(reason);
  }
}
