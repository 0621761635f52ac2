/**
 * Reading a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per
 * function (the samples that landed in it), and per area (our src/, each
 * npm package, Node's internals, GC).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './procs.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionCost {
  functionName: string;
  location: string;
  area: string;
  selfMs: number;
  /** Percent of the profile's busy (non-idle) time. */
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  /** True when only the samples taken under load were counted. */
  loadOnly: boolean;
  totalMs: number;
  busyMs: number;
  top: FunctionCost[];
  areas: { area: string; selfMs: number; selfPct: number }[];
  /**
   * Each sample charged to the innermost function of ours (src/, supervisors/)
   * on its stack: that function's own time plus the library and Node code it
   * called (XState steps, ws writes…). Samples with no function of ours on the
   * stack (sockets, HTTP parsing, promise jobs) are charged to NO_OURS.
   */
  byOurs: FunctionCost[];
}

export const NO_OURS = '(no function of ours on the stack)';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * `window` (µs on the monotonic clock, which V8's profile timestamps and
 * `process.hrtime()` share) keeps only the samples taken under load, leaving
 * out start-up (module loading) and shutdown.
 */
export function summarizeProfile(file: string, top = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const inRange = window !== undefined && window.fromUs >= profile.startTime && window.toUs <= profile.endTime + 1_000_000;
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** Node id -> the innermost node of ours at or above it (null: none), memoized. */
  const oursOf = new Map<number, number | null>();
  const nearestOurs = (id: number): number | null => {
    const known = oursOf.get(id);
    if (known !== undefined) return known;
    const frame = byId.get(id)!.callFrame;
    const parent = parentOf.get(id);
    const found = isOurs(frame) ? id : parent === undefined ? null : nearestOurs(parent);
    oursOf.set(id, found);
    return found;
  };
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the time after it (deltas[i+1]) is what sample i stood for.
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (inRange && (t < window.fromUs || t > window.toUs)) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const byFunction = new Map<string, { frame: CallFrame; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}`;
    const entry = byFunction.get(key);
    if (entry) entry.us += us;
    else byFunction.set(key, { frame, us });
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const byOursUs = new Map<string, { frame: CallFrame; us: number }>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    const ours = SPECIAL.has(frame.functionName) ? null : nearestOurs(id);
    const owner = ours === null ? (SPECIAL.has(frame.functionName) ? frame : { functionName: NO_OURS, url: '', lineNumber: 0, columnNumber: 0 }) : byId.get(ours)!.callFrame;
    const key = `${owner.functionName}|${owner.url}|${owner.lineNumber}`;
    const entry = byOursUs.get(key);
    if (entry) entry.us += us;
    else byOursUs.set(key, { frame: owner, us });
  }
  const functions = [...byFunction.values()]
    .filter((e) => e.frame.functionName !== '(idle)')
    .sort((a, b) => b.us - a.us);
  const areas = new Map<string, number>();
  for (const e of functions) areas.set(area(e.frame), (areas.get(area(e.frame)) ?? 0) + e.us);
  return {
    file,
    loadOnly: inRange,
    totalMs: round(totalUs / 1000),
    busyMs: round(busyUs / 1000),
    top: functions.slice(0, top).map((e) => ({
      functionName: e.frame.functionName || '(anonymous)',
      location: location(e.frame),
      area: area(e.frame),
      selfMs: round(e.us / 1000),
      selfPct: round((100 * e.us) / busyUs),
    })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ area: name, selfMs: round(us / 1000), selfPct: round((100 * us) / busyUs) })),
    byOurs: [...byOursUs.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({
        functionName: e.frame.functionName || '(anonymous)',
        location: e.frame.functionName === NO_OURS ? '' : location(e.frame),
        area: e.frame.functionName === NO_OURS ? 'node internals, npm' : area(e.frame),
        selfMs: round(e.us / 1000),
        selfPct: round((100 * e.us) / busyUs),
      })),
  };
}

function path(url: string): string {
  if (url.startsWith('file://')) {
    try {
      return relative(ROOT, fileURLToPath(url));
    } catch {
      return url;
    }
  }
  return url;
}

function location(frame: CallFrame): string {
  if (!frame.url) return SPECIAL.has(frame.functionName) ? '' : '(native)';
  const p = path(frame.url);
  // TypeScript loaded through tsx is compacted: its line numbers say nothing.
  return p.endsWith('.ts') ? p : `${p}:${frame.lineNumber + 1}`;
}

function isOurs(frame: CallFrame): boolean {
  if (!frame.url.startsWith('file://')) return false;
  const p = path(frame.url);
  return p.startsWith('src/') || p.startsWith('supervisors/');
}

/** Which part of the process a function belongs to. */
export function area(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName;
  const url = frame.url;
  if (!url) return '(native/V8 builtins)';
  if (url.startsWith('node:')) return 'node internals';
  const p = path(url);
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (p.startsWith('src/') || p.startsWith('supervisors/')) return `ours:${p.split('/').slice(0, 2).join('/')}`;
  if (p.startsWith('bench/')) return 'bench wrapper';
  return p;
}

const round = (v: number) => Math.round(v * 10) / 10;
