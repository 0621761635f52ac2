/** For tests that throw hostile input at a server running in this process. */
import type { TestContext } from 'node:test';

/** Uncaught exceptions and unhandled rejections raised while the test runs (listening stops with it). */
export function processErrors(t: TestContext): unknown[] {
  const errors: unknown[] = [];
  const onError = (err: unknown) => void errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });
  return errors;
}

/** A small deterministic generator in [0, 1): the same sequence for a seed. */
export function seededRandom(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}
