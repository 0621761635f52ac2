/**
 * The layers (README "Development"), checked on every import of src/ and
 * supervisors/, type-only imports included:
 *
 *   entry points   src/index.ts, src/cli.ts          may import anything
 *   the tree       supervisors/                      imports src/
 *   the server     src/ (actors, protocol, TURN…)    never imports supervisors/
 *   the library    src/otp/                          imports nothing of the server
 *
 * and no import cycle anywhere.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY_POINTS = new Set(['src/index.ts', 'src/cli.ts']);

/** Every .ts file of `dirs` (relative to the repository) and the relative modules each imports. */
export function importGraph(dirs: readonly string[]): Map<string, string[]> {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const dir of dirs) walk(dir);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?(?:from\s+)?'(\.{1,2}\/[^']+)'/gm)].map((m) =>
      relative(ROOT, resolve(ROOT, dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
    );
    graph.set(file, targets);
  }
  return graph;
}

/** The strongly connected components of more than one module (Tarjan), i.e. the cycles. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph(['src', 'supervisors']);
const arrows = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));

describe('layers', () => {
  test('the graph was read (guards against a check that sees nothing)', () => {
    assert.ok(graph.size > 50, `${graph.size} modules`);
    assert.ok(arrows.length > 150, `${arrows.length} imports`);
    assert.ok(arrows.some((a) => a.from.startsWith('supervisors/') && a.to.startsWith('src/otp/')));
  });

  test('no import cycle', () => {
    assert.deepEqual(cycles(graph), []);
  });

  test('src/ never imports the tree (supervisors/), but for the entry points', () => {
    const up = arrows.filter((a) => a.from.startsWith('src/') && a.to.startsWith('supervisors/') && !ENTRY_POINTS.has(a.from));
    assert.deepEqual(up, []);
  });

  test('the supervisor library (src/otp) imports nothing of the server', () => {
    const out = arrows.filter((a) => a.from.startsWith('src/otp/') && !a.to.startsWith('src/otp/'));
    assert.deepEqual(out, []);
  });
});

describe('the checker itself', () => {
  test('finds a cycle, a self-import, and none in a tree', () => {
    assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
    assert.deepEqual(cycles(new Map([['a', ['a']]])), [['a']]);
    assert.deepEqual(cycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
  });
});
