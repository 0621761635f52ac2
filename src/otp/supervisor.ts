/**
 * A supervisor with OTP semantics (`supervisor.erl`): children start left to
 * right and stop right to left; a child that exits is restarted according to
 * its `restart` type and the supervisor's strategy; more than `intensity`
 * restarts within `period` ms make the supervisor stop every child and exit
 * with an error, which its own supervisor then handles (escalation).
 */
import type { Logger } from 'pino';
import { SupervisorError, SupervisorErrorCode } from './errors.js';
import { ExitLink, isCrash, RestartIntensity, shutdownWorker } from './worker.js';
import type { ChildSpec, ExitReason, SupervisorObserver, Worker } from './worker.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export interface SupervisorFlags {
  strategy: Strategy;
  /** Most restarts allowed within `period`. */
  intensity: number;
  /** Milliseconds. */
  period: number;
}

/** One line of the live tree, as shown by `whichChildren()`. */
export interface ChildInfo {
  id: string;
  type: 'worker' | 'supervisor';
  restart: ChildSpec['restart'];
  state: 'running' | 'restarting' | 'stopped';
  restarts: number;
  children?: ChildInfo[];
}

/** Workers that can describe their own children (supervisors). */
export interface Inspectable {
  whichChildren(): ChildInfo[];
}

interface ChildRecord {
  readonly spec: ChildSpec;
  worker: Worker | null;
  /** `restarting` from the exit until the restart; `stopped` when it will not come back. */
  status: 'running' | 'restarting' | 'stopped';
  restarts: number;
}

export function shouldRestart(spec: Pick<ChildSpec, 'restart'>, reason: ExitReason): boolean {
  return spec.restart === 'permanent' || (spec.restart === 'transient' && isCrash(reason));
}

export class Supervisor implements Worker, Inspectable {
  private readonly children: ChildRecord[];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private readonly intensity: RestartIntensity;
  /** Start and restarts run one at a time, in the order the exits came. */
  private queue: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private readonly supervisorLink = new ExitLink();

  constructor(
    readonly name: string,
    private readonly flags: SupervisorFlags,
    specs: readonly ChildSpec[],
    private readonly logger: Logger,
    private readonly observer: SupervisorObserver = {},
  ) {
    const ids = new Set<string>();
    for (const spec of specs) {
      if (ids.has(spec.id)) throw new Error(`${name}: duplicate child id ${spec.id}`);
      ids.add(spec.id);
    }
    this.children = specs.map((spec) => ({ spec, worker: null, status: 'stopped', restarts: 0 }));
    this.intensity = new RestartIntensity(flags.intensity, flags.period);
  }

  /** Starts every child in order; if one fails, stops those started and throws. */
  async start(): Promise<this> {
    if (this.state !== 'new') throw new Error(`${this.name}: already started`);
    this.state = 'starting';
    const starting = this.startChildren();
    // A child that exits while its later siblings start is restarted after start().
    this.queue = starting.catch(() => {});
    await starting;
    return this;
  }

  private async startChildren(): Promise<void> {
    for (const record of this.children) {
      try {
        await this.startChildRecord(record);
      } catch (cause) {
        this.logger.error({ err: cause, supervisor: this.name, child: record.spec.id }, 'child failed to start');
        await this.stopChildren(this.children);
        this.state = 'stopped';
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new SupervisorError(SupervisorErrorCode.CHILD_START, `${this.name}: child ${record.spec.id} failed to start: ${why}`, { cause });
      }
    }
    this.state = 'running';
    this.notify();
  }

  private notify(): void {
    this.observer.changed?.(this.name, {
      state: this.state,
      children: this.children.map((r) => ({ id: r.spec.id, state: r.status, restarts: r.restarts })),
    });
  }

  /** The running worker of child `id`, if any. */
  child(id: string): Worker | null {
    return this.children.find((r) => r.spec.id === id)?.worker ?? null;
  }

  whichChildren(): ChildInfo[] {
    return this.children.map((r) => ({
      id: r.spec.id,
      type: r.spec.type,
      restart: r.spec.restart,
      state: r.status,
      restarts: r.restarts,
      ...(r.worker && isInspectable(r.worker) ? { children: r.worker.whichChildren() } : {}),
    }));
  }

  /** Stops every child, last started first. Idempotent: every call resolves when all have stopped. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      await this.queue;
      await this.stopChildren(this.children);
      this.state = 'stopped';
      this.notify();
    })();
    return this.stopping;
  }

  onExit(listener: (reason: ExitReason) => void): void {
    this.supervisorLink.onExit(listener);
  }

  private async startChildRecord(record: ChildRecord): Promise<void> {
    const worker = await record.spec.start();
    record.worker = worker;
    record.status = 'running';
    worker.onExit((reason) => this.childExited(record, worker, reason));
  }

  private childExited(record: ChildRecord, worker: Worker, reason: ExitReason): void {
    if (record.worker !== worker) return; // we stopped it ourselves
    record.worker = null;
    record.status = 'stopped';
    if (this.state !== 'running' && this.state !== 'starting') return;
    const log = { supervisor: this.name, child: record.spec.id, reason: isCrash(reason) ? reason.message : reason };
    if (isCrash(reason)) this.logger.error({ ...log, err: reason }, 'child crashed');
    else this.logger.info(log, 'child exited');
    if (!shouldRestart(record.spec, reason)) return this.notify();
    record.status = 'restarting';
    this.notify();
    this.queue = this.queue.then(() => this.restart(record));
  }

  /** Restarts `record` (and its siblings, per the strategy), or escalates. */
  private async restart(record: ChildRecord): Promise<void> {
    if (this.state !== 'running') return;
    if (!this.intensity.add()) {
      await this.escalate();
      return;
    }
    record.restarts++;
    const index = this.children.indexOf(record);
    const affected =
      this.flags.strategy === 'one_for_one' ? [record]
      : this.flags.strategy === 'one_for_all' ? this.children
      : this.children.slice(index);
    await this.stopChildren(affected);
    for (const r of affected) {
      if (r !== record && r.spec.restart === 'temporary') continue;
      r.status = 'restarting';
      if (r !== record && !r.worker) r.restarts++;
      try {
        await this.startChildRecord(r);
        this.logger.info({ supervisor: this.name, child: r.spec.id, restarts: r.restarts }, 'child restarted');
        this.observer.restarted?.(this.name, r.spec.id);
      } catch (err) {
        this.logger.error({ err, supervisor: this.name, child: r.spec.id }, 'child failed to restart');
        return this.restart(r); // a failed restart counts as another restart
      }
    }
    this.notify();
  }

  private async escalate(): Promise<void> {
    this.logger.error({ supervisor: this.name, ...this.flags }, 'restart intensity reached: shutting down and escalating');
    this.state = 'stopping';
    await this.stopChildren(this.children);
    this.state = 'stopped';
    this.notify();
    const reason = new SupervisorError(SupervisorErrorCode.MAX_RESTART_INTENSITY,
      `${this.name}: more than ${this.flags.intensity} restarts in ${this.flags.period} ms`,
    );
    this.supervisorLink.exit(reason);
  }

  /** Stops the running workers among `records`, in reverse order. */
  private async stopChildren(records: readonly ChildRecord[]): Promise<void> {
    for (let i = records.length - 1; i >= 0; i--) {
      const record = records[i]!;
      const worker = record.worker;
      record.status = 'stopped';
      if (!worker) continue;
      record.worker = null;
      const outcome = await shutdownWorker(worker, record.spec.shutdown);
      if (outcome === 'killed') {
        this.logger.warn({ supervisor: this.name, child: record.spec.id, shutdown: record.spec.shutdown }, 'child did not stop in time: killed');
      }
    }
  }
}

export function isInspectable(worker: Worker): worker is Worker & Inspectable {
  return typeof (worker as Partial<Inspectable>).whichChildren === 'function';
}

/** What every supervisor of a tree is given besides its flags and children. */
export interface SupervisorContext {
  logger: Logger;
  observer?: SupervisorObserver;
}

/** A permanent supervisor child: `name` with `flags` over `children`, given `shutdown` ms to stop. */
export function supervisorSpec(name: string, flags: SupervisorFlags, children: readonly ChildSpec[], context: SupervisorContext, shutdown: number): ChildSpec {
  return {
    id: name,
    type: 'supervisor',
    restart: 'permanent',
    shutdown,
    start: () => new Supervisor(name, flags, children, context.logger, context.observer).start(),
  };
}
