/**
 * The one polling helper of the tests: every wait is bounded. `poll` calls
 * `check` (sync or async) every `everyMs` until it returns something truthy
 * and returns it, or gives up after `ms` and returns undefined; `waitFor`
 * throws instead of giving up.
 */
export async function poll<T>(check: () => T | Promise<T>, ms = 5_000, everyMs = 10): Promise<T | undefined> {
  const end = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function waitFor<T>(check: () => T | Promise<T>, ms: number, what: string, everyMs = 10): Promise<NonNullable<T>> {
  const value = await poll(check, ms, everyMs);
  if (!value) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  return value as NonNullable<T>;
}
