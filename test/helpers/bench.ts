/** Runs one bench suite at smoke sizes, for the bench's own tests. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { preset } from '../../bench/lib/config.js';
import type { BenchConfig, SuiteName } from '../../bench/lib/config.js';
import { runBench } from '../../bench/run.js';
import type { BenchResult } from '../../bench/run.js';

/** One suite alone at smoke sizes: the config and the JSON it wrote (in a temp folder removed after the test). */
export async function runAlone(t: TestContext, suite: SuiteName): Promise<{ config: BenchConfig; result: BenchResult }> {
  const dir = mkdtempSync(join(tmpdir(), `bench-smoke-${suite}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = preset('smoke');
  config.suites = [suite];
  config.out = join(dir, 'latest.json');
  await runBench(config, `bench-smoke-${suite}`);
  const result = JSON.parse(readFileSync(config.out, 'utf8')) as BenchResult;
  assert.equal(result.fanout, null, 'only the suite asked for ran');
  return { config, result };
}
