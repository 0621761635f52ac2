/** The pretty log format (src/observability/log-output.ts): one pino JSON line in, one readable line out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chosenLogFormat, prettyLine } from '../../src/observability/log-output.js';

const TIME = Date.UTC(2026, 10, 25, 14, 3, 7, 123);

test('level, message, then the fields; pino\'s own fields left out', () => {
  const line = JSON.stringify({ level: 30, time: TIME, service: 'webrtc-server', peer_id: 'Ab/c+dE0fG1hI2==', room: 'demo', msg: 'joined', username: 'alice', n: 3, ok: true, list: [1, 2] });
  assert.equal(prettyLine(line), '2026-11-25T14:03:07.123Z INFO  joined peer_id=Ab/c+dE0fG1hI2== room=demo username=alice n=3 ok=true list=[1,2]\n');
});

test('values from clients are quoted and escaped: a room or reason cannot forge a second line or move the cursor', () => {
  const line = JSON.stringify({ level: 30, time: TIME, msg: 'left', room: 'x\n2026-11-25T00:00:00.000Z FATAL forged', reason: 'bye\u001b[2J' });
  const out = prettyLine(line);
  assert.equal(out.split('\n').length, 2, 'one line and its newline');
  assert.ok(!out.includes('\u001b'), 'no escape character reaches the terminal');
  assert.ok(out.includes('room="x\\n2026-11-25T00:00:00.000Z FATAL forged"'), out);
});

test('an error is shown by its stack, indented under the line, with control characters escaped', () => {
  const line = JSON.stringify({ level: 50, time: TIME, msg: 'child failed to start', child: 'turn_listener', err: { type: 'Error', message: 'bind EADDRINUSE', stack: 'Error: bind EADDRINUSE\r\n    at bind (node:dgram:1:1)' } });
  assert.equal(
    prettyLine(line),
    '2026-11-25T14:03:07.123Z ERROR child failed to start child=turn_listener\n    Error: bind EADDRINUSE\\u000d\n        at bind (node:dgram:1:1)\n',
  );
});

test('colors only when asked; a line that is not JSON is kept as it is', () => {
  const line = JSON.stringify({ level: 40, time: TIME, msg: 'careful' });
  assert.ok(prettyLine(line, true).includes('\u001b[33mWARN '));
  assert.ok(!prettyLine(line, false).includes('\u001b'));
  assert.equal(prettyLine('not json'), 'not json');
});

test('unset logFormat: pretty on a terminal, JSON otherwise; a set one wins', () => {
  assert.equal(chosenLogFormat(null, { isTTY: true }), 'pretty');
  assert.equal(chosenLogFormat(null, { isTTY: false }), 'json');
  assert.equal(chosenLogFormat(null, {}), 'json');
  assert.equal(chosenLogFormat('json', { isTTY: true }), 'json');
  assert.equal(chosenLogFormat('pretty', {}), 'pretty');
});
