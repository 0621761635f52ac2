/**
 * What a supervisor supervises: anything that can be stopped and that tells
 * its supervisor when it exits on its own (the OTP link). Supervisors are
 * workers too, so trees nest.
 */

/** `normal` and `shutdown` are clean exits; an Error is a crash. */
export type ExitReason = 'normal' | 'shutdown' | Error;

export interface Worker {
  /** Orderly stop. After it resolves the worker never reports an exit. */
  stop(): Promise<void>;
  /** Brutal kill, used when `stop()` outlives the child's `shutdown` time. */
  kill?(): void;
  /** Links the supervisor: `listener` is called once if the worker exits on its own. */
  onExit(listener: (reason: ExitReason) => void): void;
}

export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface ChildSpec {
  /** Unique among the supervisor's children. */
  id: string;
  start: () => Worker | Promise<Worker>;
  /** permanent: always restarted; transient: restarted after a crash; temporary: never. */
  restart: RestartType;
  /** Milliseconds `stop()` may take before `kill()`. */
  shutdown: number;
  type: 'worker' | 'supervisor';
}

export function isCrash(reason: ExitReason): reason is Error {
  return reason instanceof Error;
}

/** Restart intensity: at most `intensity` restarts within `period` ms. */
export class RestartIntensity {
  private readonly times: number[] = [];

  constructor(
    private readonly intensity: number,
    private readonly period: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records one restart; false when that exceeds the intensity (escalate). */
  add(): boolean {
    const now = this.now();
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.period) this.times.shift();
    return this.times.length <= this.intensity;
  }
}

/** Stops `worker`, killing it if `stop()` takes longer than `shutdown` ms. */
export async function shutdownWorker(worker: Worker, shutdown: number): Promise<'stopped' | 'killed'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'killed'>((resolve) => {
    timer = setTimeout(() => resolve('killed'), shutdown);
  });
  const outcome = await Promise.race([worker.stop().then(() => 'stopped' as const, () => 'stopped' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'killed') worker.kill?.();
  return outcome;
}

/** What a supervisor tells an observer (metrics, the inspector). Every method is optional. */
export interface SupervisorObserver {
  /** `child` of `supervisor` was restarted. */
  restarted?(supervisor: string, child: string): void;
  /** The supervisor started, stopped, or a child of it exited or came back. */
  changed?(supervisor: string, snapshot: SupervisorSnapshot): void;
}

export interface SupervisorSnapshot {
  state: string;
  /** Static supervisors list their children; dynamic ones count them. */
  children: { id: string; state: string; restarts: number }[] | number;
}

/**
 * A worker's link to its supervisor (what `onExit` sets up): one listener,
 * told once, even if it links after the exit.
 */
export class ExitLink {
  private listener: ((reason: ExitReason) => void) | null = null;
  private reason: ExitReason | null = null;

  onExit(listener: (reason: ExitReason) => void): void {
    this.listener = listener;
    if (this.reason !== null) listener(this.reason);
  }

  /** Reports the exit, the first time only; false if it was reported already. */
  exit(reason: ExitReason): boolean {
    if (this.reason !== null) return false;
    this.reason = reason;
    this.listener?.(reason);
    return true;
  }

  get exited(): boolean {
    return this.reason !== null;
  }
}
