/**
 * Reading V8 heap snapshots (what `v8.writeHeapSnapshot()` writes) for the
 * soak's `--soak-heap-snapshots`: the heap summed by constructor (objects,
 * closures), by kind for V8's own cells (strings, code, arrays, hidden
 * system objects), and the difference between two snapshots, largest
 * growth first. Retainers are not walked: a class that grows with the run
 * names the suspect; DevTools' comparison view over the same files shows
 * who holds it.
 */
import { readFileSync } from 'node:fs';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  /** `Foo` for objects and closures of class/function Foo, `(string)`, `(code)`, `(array) name`, `(system) name`… */
  key: string;
  count: number;
  bytes: number;
}

/** Sums a snapshot's nodes by group. */
export function summarizeHeap(file: string): Map<string, HeapGroup> {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, HeapGroup>();
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt]!] ?? '?';
    const name = raw.strings[raw.nodes[i + nameAt]!] ?? '';
    const key = groupKey(type, name);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { key, count: 0, bytes: 0 }));
    g.count++;
    g.bytes += raw.nodes[i + sizeAt]!;
  }
  return groups;
}

function groupKey(type: string, name: string): string {
  switch (type) {
    case 'object':
    case 'closure':
    case 'native':
      return name.length > 60 ? `${name.slice(0, 60)}…` : name || `(${type})`;
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'hidden':
    case 'array':
    case 'object shape':
      return `(${type}) ${name.length > 50 ? `${name.slice(0, 50)}…` : name}`;
    default:
      return `(${type})`;
  }
}

export interface HeapGrowth extends HeapGroup {
  countBefore: number;
  bytesBefore: number;
}

/** What grew from `before` to `after`, largest byte growth first. */
export function diffHeaps(before: Map<string, HeapGroup>, after: Map<string, HeapGroup>, top = 25): HeapGrowth[] {
  const out: HeapGrowth[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    out.push({ key, count: a.count - (b?.count ?? 0), bytes: a.bytes - (b?.bytes ?? 0), countBefore: b?.count ?? 0, bytesBefore: b?.bytes ?? 0 });
  }
  return out.sort((x, y) => y.bytes - x.bytes).slice(0, top);
}
