/**
 * Reads a member's text frame without `JSON.parse`: one pass over its bytes
 * that checks the JSON grammar (RFC 8259) exactly as `JSON.parse` would accept
 * it, and notes only what forwarding needs from the top-level object: `to`,
 * whether `event` is `"authenticate"`, whether there is a `from`, and where the
 * object's closing brace is. Nothing is allocated but the `to` string.
 *
 * The bytes must be valid UTF-8 (ws checks every text frame, closing 1007
 * otherwise): bytes ≥ 0x80 are then only ever inside strings, where JSON
 * allows them. When a top-level key, or the value of `to` or `event`, holds
 * an escape, what it spells is left to `JSON.parse` (`unsure`): such frames
 * are rare and never worth decoding escapes here.
 */

export const ScanVerdict = {
  /** Not JSON, or JSON that is not an object. */
  INVALID: 0,
  /** A JSON object; the fields of the scan describe it. */
  OBJECT: 1,
  /** Valid or not, only `JSON.parse` can tell what its top-level keys are (an escape in a key, `to` or `event`). */
  UNSURE: 2,
} as const;
export type ScanVerdict = (typeof ScanVerdict)[keyof typeof ScanVerdict];

/** What a scan found in the top-level object (valid when the verdict is OBJECT; reused from scan to scan). */
export interface TopLevel {
  /** How many members the object has (duplicates counted). */
  members: number;
  /** The last `to`: its string's bytes [toStart, toEnd) without the quotes; toStart is -1 without `to`, -2 when `to` is not a string. */
  toStart: number;
  toEnd: number;
  /** The last `event` is the string "authenticate". */
  authenticate: boolean;
  /** The object has a top-level `from`. */
  hasFrom: boolean;
  /** Index of the object's closing brace. */
  end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const KEY_OTHER = 0;
const KEY_TO = 1;
const KEY_EVENT = 2;
const KEY_FROM = 3;

const IN_OBJECT = 1;
const IN_ARRAY = 2;

/** `"authenticate"` without its quotes. */
const AUTHENTICATE = Buffer.from('authenticate');

/**
 * The deepest nesting of objects and arrays a client frame may have; deeper
 * is `invalid_json`, whichever way it is read (protocol.ts checks the same
 * before `JSON.parse`). Re-serializing a client's object (`from` overwritten)
 * recurses once per level: a 64 KiB frame nested 30,000 deep overflowed the
 * stack. No signaling message nests beyond a handful.
 */
export const MAX_JSON_DEPTH = 256;

/** Open containers, innermost last. */
const stack = new Uint8Array(MAX_JSON_DEPTH);

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWhitespace(b: Buffer, i: number, n: number): number {
  while (i < n && isWhitespace(b[i]!)) i++;
  return i;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** Set by `string()`: the string it just read held an escape. */
let escaped = false;

/** Reads the string whose opening quote is at `i`; returns the index after its closing quote, or -1. */
function string(b: Buffer, i: number, n: number): number {
  escaped = false;
  i++;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      escaped = true;
      const e = b[i + 1];
      if (e === 0x75) {
        // \uXXXX
        if (i + 5 >= n || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!) || !isHex(b[i + 5]!)) return -1;
        i += 6;
        continue;
      }
      // \" \\ \/ \b \f \n \r \t
      if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return -1;
      i += 2;
      continue;
    }
    if (c < 0x20) return -1; // control characters must be escaped
    i++;
  }
  return -1;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Reads the number at `i` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`); returns the index after it, or -1. */
function number(b: Buffer, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** Reads `word` (true, false, null) at `i`; returns the index after it, or -1. */
function literal(b: Buffer, i: number, n: number, word: string): number {
  if (i + word.length > n) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** Which of the keys forwarding cares about the key in [start, end) (its quotes excluded) is. */
function keyOf(b: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length === 2 && b[start] === 0x74 && b[start + 1] === 0x6f) return KEY_TO;
  if (length === 4 && b[start] === 0x66 && b[start + 1] === 0x72 && b[start + 2] === 0x6f && b[start + 3] === 0x6d) return KEY_FROM;
  if (length === 5 && b[start] === 0x65 && b[start + 1] === 0x76 && b[start + 2] === 0x65 && b[start + 3] === 0x6e && b[start + 4] === 0x74) return KEY_EVENT;
  return KEY_OTHER;
}

/**
 * Scans `b` (valid UTF-8). On OBJECT, `top` describes the object; on
 * INVALID and UNSURE it holds nothing of use.
 */
export function scanFrame(b: Buffer, top: TopLevel): ScanVerdict {
  const n = b.length;
  top.members = 0;
  top.toStart = -1;
  top.toEnd = -1;
  top.authenticate = false;
  top.hasFrom = false;
  top.end = -1;
  let i = skipWhitespace(b, 0, n);
  if (b[i] !== OPEN_OBJECT) return ScanVerdict.INVALID; // not an object, whether JSON or not
  let depth = 0;
  unsure = false;
  /** The top-level key whose value comes next. */
  let key = KEY_OTHER;
  // The top-level object is the first value; `value` reads one value, `after` what follows it.
  value: for (;;) {
    i = skipWhitespace(b, i, n);
    const c = b[i];
    let valueStart = i;
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === MAX_JSON_DEPTH) return ScanVerdict.INVALID;
      stack[depth++] = c === OPEN_OBJECT ? IN_OBJECT : IN_ARRAY;
      if (depth === 2 && key === KEY_TO) top.toStart = -2; // `to` is an object or an array
      i = skipWhitespace(b, i + 1, n);
      if (c === OPEN_OBJECT) {
        if (b[i] === CLOSE_OBJECT) {
          i++;
          depth--;
          if (depth === 0) top.end = i - 1;
        } else {
          // A key, then its value.
          i = readKey(b, i, n, depth, top);
          if (i < 0) return ScanVerdict.INVALID;
          key = lastKey;
          continue value;
        }
      } else if (b[i] === CLOSE_ARRAY) {
        i++;
        depth--;
      } else {
        key = KEY_OTHER;
        continue value;
      }
    } else {
      if (c === QUOTE) {
        i = string(b, i, n);
        if (i < 0) return ScanVerdict.INVALID;
        if (depth === 1) {
          if (key === KEY_TO) {
            if (escaped) unsure = true;
            top.toStart = valueStart + 1;
            top.toEnd = i - 1;
          } else if (key === KEY_EVENT) {
            if (escaped) unsure = true;
            top.authenticate = b.compare(AUTHENTICATE, 0, AUTHENTICATE.length, valueStart + 1, i - 1) === 0;
          }
        }
      } else {
        if (c === 0x2d || isDigit(c)) i = number(b, i);
        else if (c === 0x74) i = literal(b, i, n, 'true');
        else if (c === 0x66) i = literal(b, i, n, 'false');
        else if (c === 0x6e) i = literal(b, i, n, 'null');
        else return ScanVerdict.INVALID;
        if (i < 0) return ScanVerdict.INVALID;
        if (depth === 1) {
          if (key === KEY_TO) top.toStart = -2;
          else if (key === KEY_EVENT) top.authenticate = false;
        }
      }
    }
    // After a value: a comma and the next member or element, or the container closes.
    for (;;) {
      i = skipWhitespace(b, i, n);
      if (depth === 0) return i === n ? (unsure ? ScanVerdict.UNSURE : ScanVerdict.OBJECT) : ScanVerdict.INVALID;
      const inObject = stack[depth - 1] === IN_OBJECT;
      const d = b[i];
      if (d === COMMA) {
        i = skipWhitespace(b, i + 1, n);
        if (!inObject) {
          key = KEY_OTHER;
          continue value;
        }
        i = readKey(b, i, n, depth, top);
        if (i < 0) return ScanVerdict.INVALID;
        key = lastKey;
        continue value;
      }
      if (d === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
        depth--;
        if (depth === 0) top.end = i - 1;
        continue;
      }
      return ScanVerdict.INVALID;
    }
  }
}

/** Set by `readKey`: which key it read (KEY_OTHER below the top level, or for a key holding an escape). */
let lastKey = KEY_OTHER;
/** Set by a scan: a top-level key, or the value of `to` or `event`, holds an escape. */
let unsure = false;

/** Reads `"key"` and its colon at `i`; returns the index after the colon, or -1. */
function readKey(b: Buffer, i: number, n: number, depth: number, top: TopLevel): number {
  if (b[i] !== QUOTE) return -1;
  const start = i;
  i = string(b, i, n);
  if (i < 0) return -1;
  lastKey = KEY_OTHER;
  if (depth === 1) {
    top.members++;
    if (escaped) unsure = true;
    else lastKey = keyOf(b, start + 1, i - 1);
    if (lastKey === KEY_FROM) top.hasFrom = true;
  }
  i = skipWhitespace(b, i, n);
  if (b[i] !== COLON) return -1;
  return i + 1;
}
