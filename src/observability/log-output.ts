/**
 * The server's pino logger on stdout, in the `logFormat` asked for: `json`
 * (pino's lines as they are) or `pretty`, one readable line per entry:
 *
 *   2026-11-25T14:03:07.123Z INFO  joined peer_id=Ab/c+dE0fG1hI2== room=demo username=alice
 *
 * Unset, the format is `pretty` when stdout is a terminal and `json`
 * otherwise. Pretty lines are made here rather than with pino-pretty (not a
 * dependency of ours): a small synchronous transform of each JSON line, so the
 * daemon's synchronous exit-time lines keep working. Values that came from
 * clients (usernames, rooms, close reasons) are quoted and escaped, so they
 * cannot forge a line or move the terminal's cursor.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import type { LogFormat, LogLevel } from '../options.js';

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '34' },
  30: { name: 'INFO ', color: '32' },
  40: { name: 'WARN ', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35;1' },
};
/** pino's own fields, shown in the line's head or left out. */
const HEAD_KEYS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'err']);
/** Printed bare; anything else is JSON-quoted. */
const BARE = /^[\w.:/@+=,*[\]-]+$/;
/** C0 controls (but newline) and DEL, C1 controls: escaped in stack traces. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;

function paint(color: boolean, code: string, text: string): string {
  return color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function value(v: unknown): string {
  if (typeof v === 'string') return BARE.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** The error under `err`: its stack (or message), indented under the line, controls escaped. */
function errorLines(err: unknown): string {
  if (typeof err !== 'object' || err === null) return err === undefined ? '' : `\n    ${value(err)}`;
  const { stack, message } = err as { stack?: unknown; message?: unknown };
  const text = typeof stack === 'string' ? stack : typeof message === 'string' ? message : JSON.stringify(err);
  const safe = text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `\n${safe.split('\n').map((l) => `    ${l}`).join('\n')}`;
}

/** One pino JSON line as a readable line (with its newline); a line that is not JSON is kept as it is. */
export function prettyLine(json: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  if (typeof entry !== 'object' || entry === null) return json;
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level).padEnd(5), color: '0' };
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString() : '';
  const msg = typeof entry.msg === 'string' ? entry.msg.replace(CONTROL, ' ') : '';
  const fields = Object.entries(entry)
    .filter(([k]) => !HEAD_KEYS.has(k))
    .map(([k, v]) => `${paint(color, '2', `${k}=`)}${value(v)}`);
  const head = [paint(color, '2', time), paint(color, level.color, level.name), msg, ...fields].filter(Boolean).join(' ');
  return `${head}${errorLines(entry.err)}\n`;
}

/** A pino destination that writes each line to `out` in the pretty format. */
export function prettyStream(out: DestinationStream, color: boolean): DestinationStream {
  return { write: (line: string) => void out.write(prettyLine(line.endsWith('\n') ? line.slice(0, -1) : line, color)) };
}

/** `logFormat`, or (unset) pretty on a terminal and JSON otherwise. */
export function chosenLogFormat(format: LogFormat | null, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return format ?? (stdout.isTTY ? 'pretty' : 'json');
}

/**
 * The server's logger on stdout. `sync`: every line is written before the
 * call returns (the daemon's process logger, which may log from 'exit').
 */
export function createLogger(options: { logLevel: LogLevel; logFormat: LogFormat | null }, sync = false): Logger {
  const base = { level: options.logLevel, base: { service: 'webrtc-server' } };
  if (chosenLogFormat(options.logFormat) === 'json') return pino(base, pino.destination({ dest: 1, sync }));
  // Pretty lines are for people reading a terminal: written synchronously, in order.
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  return pino(base, prettyStream(pino.destination({ dest: 1, sync: true }), color));
}
