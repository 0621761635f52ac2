/**
 * Where one server is in its life: the root supervisor running now (null
 * before start, after stop, or after it gave up) and whether it is draining.
 * The application moves it; the server API reads it (`tree()`, `/readyz`).
 */
import type { Worker } from './otp/worker.js';

export class Lifecycle {
  private root: Worker | null = null;
  private drainingSince: number | null = null;

  /** The root supervisor started (or restarted, under an embedder's supervisor). */
  running(root: Worker): void {
    this.root = root;
  }

  /** The root supervisor stopped or gave up. */
  stopped(): void {
    this.root = null;
  }

  /** stop() began: /readyz answers 503 from now on. */
  drain(): void {
    this.drainingSince ??= performance.now();
  }

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /** The running root supervisor, or null. */
  get current(): Worker | null {
    return this.root;
  }
}
