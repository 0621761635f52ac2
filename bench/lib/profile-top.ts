/**
 * Prints the top self time of one `.cpuprofile` (bench/lib/profile.ts), each
 * also in µs per packet when the relayed packets per CPU-second are given:
 *
 *   npx tsx bench/lib/profile-top.ts FILE [pktsPerCpuS] [top]
 */
import { summarizeProfile } from './profile.js';

const [file, perCpuArg, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top.ts FILE [pktsPerCpuS] [top]');
const perCpu = perCpuArg ? Number(perCpuArg) : null;
const s = summarizeProfile(file, topArg ? Number(topArg) : 30);
const usPerPkt = (pct: number): string => (perCpu ? `${((pct / 100) * (1e6 / perCpu)).toFixed(2)} µs/pkt` : '');
console.log(`busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms`);
for (const f of s.top) console.log(`${f.selfPct.toFixed(1).padStart(5)} % ${usPerPkt(f.selfPct).padStart(13)}  ${f.functionName} ${f.location}`);
console.log('-- innermost function of ours on the stack');
for (const f of s.byOurs.slice(0, 15)) console.log(`${f.selfPct.toFixed(1).padStart(5)} % ${usPerPkt(f.selfPct).padStart(13)}  ${f.functionName} ${f.location}`);
