import { preset } from './lib/config.js';
import { WorkerPool } from './lib/procs.js';
import { runTurnCores, formatTurnCores } from './suites/turn-cores.js';
import { writeFileSync } from 'node:fs';
const config = preset((process.env.PRESET as 'default' | 'smoke') ?? 'default');
if (process.env.ROUNDS) config.turn.cores.rounds = Number(process.env.ROUNDS);
const pool = new WorkerPool();
try {
  const r = await runTurnCores(config, pool);
  writeFileSync(process.env.OUT ?? '/tmp/cores.json', JSON.stringify(r, null, 1));
  const table = (h: string[], rows: (string | number | null)[][]) => [h, ...rows].map((x) => x.map((v) => String(v ?? '-')).join(' | ')).join('\n');
  console.log(formatTurnCores(r, table).join('\n'));
} finally { await pool.stop(); }
