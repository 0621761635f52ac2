/**
 * readClientFrame (the scan of a frame's bytes, frame-scan.ts) against
 * parseClientFrame (JSON.parse of its text): the same frame, the same answer
 * and the same forwarded bytes, on a corpus of tricky JSON and on random
 * mutations of it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedPayload, fromTail } from '../../src/signaling/forwarding.js';
import { scanFrame, ScanVerdict } from '../../src/signaling/frame-scan.js';
import type { TopLevel } from '../../src/signaling/frame-scan.js';
import { parseClientFrame, readClientFrame } from '../../src/signaling/protocol.js';
import type { ClientFrame } from '../../src/signaling/protocol.js';
import { TextFrames } from '../../src/signaling/text-frames.js';

const PEER = 'AbCd+/GhIjKlMn==';
const sender = { room: 'r', peerId: PEER, fromTail: fromTail(PEER) };

/** What a frame comes to: its kind, its answer or credentials, its addressee and the forwarded bytes. */
function outcome(frame: ClientFrame): unknown {
  if (frame.type !== 'frame.message') return frame;
  return { type: frame.type, to: frame.to, forwarded: forwardedPayload(new TextFrames(), sender, frame).toString('latin1') };
}

/** Both paths on the bytes a client sends (ws hands valid UTF-8 over, decoded for the JSON path). */
function both(input: string | Buffer): { read: ClientFrame; parsed: ClientFrame } {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  return { read: readClientFrame(bytes), parsed: parseClientFrame(bytes.toString('utf8')) };
}

function assertSame(input: string | Buffer): ClientFrame {
  const { read, parsed } = both(input);
  assert.deepEqual(outcome(read), outcome(parsed), JSON.stringify(input.toString()));
  return read;
}

const CANDIDATE = '{"z":"123:4:abc","event":"candidate","data":{"candidate":"candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host","sdpMid":"0","sdpMLineIndex":0}}';

const CORPUS: string[] = [
  // ordinary signaling
  CANDIDATE,
  '{"event":"offer","to":"AAAAAAAAAAAAAA==","data":{"type":"offer","sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"}}',
  '{"to":"AbCd+/GhIjKlMn==","event":"answer"}',
  // whitespace everywhere JSON allows it, and around the object
  ' \t\r\n{ "event" : "x" , "to" : "P" , "data" : [ 1 , { } , [ ] ] } \n ',
  '{"a":1}   ',
  '   {"a":1}',
  '{\n}',
  '{ }',
  '{}',
  // escapes: in values, in keys, spelling to/event/from
  '{"data":"quote \\" backslash \\\\ slash \\/ \\b\\f\\n\\r\\t \\u00e9 \\uD83D\\uDE00 \\ud800"}',
  '{"t\\u006f":"P","a":1}',
  '{"to":"P\\u0041"}',
  '{"to":"\\u0050"}',
  '{"ev\\u0065nt":"authenticate","data":{"username":"a","password":"b"}}',
  '{"event":"auth\\u0065nticate","data":{"username":"a","password":"b"}}',
  '{"\\u0066rom":"spoof","a":1}',
  '{"a\\"b":1}',
  // nested to/event/from are not the top-level ones
  '{"data":{"to":"P","from":"x","event":"authenticate"}}',
  '{"data":[{"to":1}],"x":{"to":{"to":"P"}}}',
  '{"a":{"b":{"c":{"to":"deep"}}},"to":"P"}',
  // duplicate keys: the last one wins
  '{"to":1,"to":"P"}',
  '{"to":"P","to":1}',
  '{"to":"P","to":"Q"}',
  '{"event":"authenticate","event":"x","data":{"username":"a","password":"b"}}',
  '{"event":"x","event":"authenticate","data":{"username":"a","password":"b"}}',
  '{"a":1,"a":2}',
  // to that is not a string
  '{"to":null}', '{"to":1}', '{"to":-1.5e3}', '{"to":true}', '{"to":false}', '{"to":[]}', '{"to":["P"]}', '{"to":{}}', '{"to":{"id":"P"}}',
  '{"to":""}',
  // unicode, raw
  '{"event":"chat","data":"héllo wörld — 你好 😀"}',
  '{"to":"é😀","a":1}',
  '{"ключ":"значение"}',
  '{"a":"\u2028\u2029"}',
  // from, and authenticate
  '{"from":"spoof"}',
  '{"event":"x","from":null,"to":"P"}',
  '{"event":"authenticate","data":{"username":"alice","password":"pw"}}',
  '{"event":"authenticate"}',
  '{"event":"authenticate","data":{"username":"alice","password":1}}',
  '{"event":"Authenticate","data":{"username":"a","password":"b"}}',
  '{"event":"authenticatex"}',
  '{"event":"authenticat"}',
  '{"event":1}',
  '{"__proto__":{"to":"P"}}',
  '{"__proto__":1,"to":"P"}',
  '{"constructor":1,"toString":2,"hasOwnProperty":3}',
  // numbers and literals
  '{"n":[0,-0,1,-1,0.5,-0.5,1e3,1E3,1e+3,1e-3,1.5e-10,123456789012345678901234567890]}',
  '{"l":[true,false,null]}',
  // not objects: invalid_json whether JSON or not
  '', ' ', 'null', 'true', '1', '"str"', '[]', '[{"to":"P"}]', 'ping ', 'PING', '"ping"',
  // broken JSON
  '{', '}', '{"a":1', '{"a":1}}', '{"a":1},', '{"a":1} x', '{"a":1}{}', '{,}', '{"a":1,}', '{"a" 1}', '{"a":1 "b":2}', '{a:1}', "{'a':1}",
  '{"a":[1,]}', '{"a":[,1]}', '{"a":[1 2]}', '{"a":}', '{"a"}', '{"a":1,,"b":2}', '{"a":{"b":1}', '{"a":[}', '{"a":]}',
  '{"a":01}', '{"a":-}', '{"a":1.}', '{"a":.5}', '{"a":1e}', '{"a":1e+}', '{"a":+1}', '{"a":0x10}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}',
  '{"a":tru}', '{"a":nul}', '{"a":truex}', '{"a":True}', '{"a":undefined}',
  '{"a":"\\x41"}', '{"a":"\\u12"}', '{"a":"\\u12G4"}', '{"a":"\\"}', '{"a":"\\', '{"a":"unterminated}', '{"a":"\\\'"}',
  '{"a":"raw\ttab"}', '{"a":"raw\nnewline"}', '{"a":"nul\u0000"}', '{"a":"\u001f"}', '{"a":"\u007f"}',
  '\uFEFF{"a":1}', '{"a":1}\uFEFF', '{"a":1}\u00a0', '\u00a0{"a":1}', '{"a":1}\f', '{"a":1}\v',
  '{"a":1}/*c*/', '//c\n{"a":1}',
];

describe('readClientFrame against parseClientFrame', () => {
  test('the corpus: same frame, same answer, same forwarded bytes', () => {
    for (const text of CORPUS) assertSame(text);
  });

  test('the common message is read without being parsed: forwarded as its bytes and the tail', () => {
    const frame = assertSame(CANDIDATE);
    assert.equal(frame.type, 'frame.message');
    assert.ok(frame.type === 'frame.message' && frame.payload === undefined, 'read from its bytes');
    const unicast = assertSame('{"event":"offer","to":"é😀"}');
    assert.ok(unicast.type === 'frame.message' && unicast.payload === undefined && unicast.to === 'é😀');
  });

  test('frames only JSON.parse can read are parsed: authenticate, from, an empty object, escapes in keys, to or event', () => {
    for (const text of ['{"event":"authenticate","data":{"username":"a","password":"b"}}', '{"from":1}', '{}', '{"t\\u006f":"P"}', '{"to":"\\u0050"}', '{"event":"\\u0061"}']) {
      const frame = assertSame(text);
      assert.ok(frame.type !== 'frame.message' || frame.payload !== undefined, text);
    }
  });

  test('every length encoding of the forwarded frame (126, 65536 bytes)', () => {
    for (const size of [0, 100, 130, 65_400, 70_000]) assertSame(`{"to":"P","data":"${'x'.repeat(size)}"}`);
  });

  test('deep nesting: 20,000 arrays and objects', () => {
    assertSame(`{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    assertSame(`{"a":${'{"b":'.repeat(20_000)}1${'}'.repeat(20_000)}}`);
    assertSame(`{"a":${'['.repeat(20_000)}${']'.repeat(19_999)}}`);
  });

  test('random mutations of the corpus: 30,000 frames', () => {
    // A fixed seed: a failure names the frame, and the run can be repeated.
    let seed = 0x5eed;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['{', '}', '[', ']', '"', '\\', ':', ',', ' ', '\n', '0', '1', '-', '.', 'e', 'u', 'a', 't', 'o', 'to', '"to"', '"from"', '"event"', '"authenticate"', 'true', 'null', 'é', '😀', '\u0000', '\\u0041', '\\"'];
    const valid = CORPUS.filter((text) => {
      try {
        JSON.parse(text);
        return true;
      } catch {
        return false;
      }
    });
    let messages = 0;
    for (let k = 0; k < 30_000; k++) {
      let text = valid[random(valid.length)]!;
      for (let m = 1 + random(3); m > 0; m--) {
        const at = random(text.length + 1);
        const op = random(3);
        const piece = pieces[random(pieces.length)]!;
        if (op === 0) text = text.slice(0, at) + piece + text.slice(at);
        else if (op === 1) text = text.slice(0, at) + text.slice(at + 1 + random(3));
        else text = text.slice(0, at) + piece + text.slice(at + 1);
      }
      // What ws would hand over: the UTF-8 bytes of the text (a broken surrogate pair becomes U+FFFD).
      const frame = assertSame(Buffer.from(text));
      if (frame.type === 'frame.message') messages++;
    }
    assert.ok(messages > 3_000, `enough mutants are still messages (${messages})`);
  });
});

describe('scanFrame', () => {
  const top: TopLevel = { members: 0, toStart: -1, toEnd: -1, authenticate: false, hasFrom: false, end: -1 };

  test('notes the top level only: members, the last to, event, from, the closing brace', () => {
    const text = ' {"a":{"to":"x","from":1},"to":"PQ","event":"authenticate","b":[{"event":"y"}]} ';
    assert.equal(scanFrame(Buffer.from(text), top), ScanVerdict.OBJECT);
    assert.equal(top.members, 4);
    assert.equal(text.slice(top.toStart, top.toEnd), 'PQ');
    assert.equal(top.authenticate, true);
    assert.equal(top.hasFrom, false);
    assert.equal(top.end, text.lastIndexOf('}'));
  });

  test('escapes in top-level keys or in to/event are left to JSON.parse; elsewhere they are not', () => {
    assert.equal(scanFrame(Buffer.from('{"\\u0074o":"P"}'), top), ScanVerdict.UNSURE);
    assert.equal(scanFrame(Buffer.from('{"to":"\\u0050"}'), top), ScanVerdict.UNSURE);
    assert.equal(scanFrame(Buffer.from('{"a":"\\u0050","b":{"\\u0074o":1}}'), top), ScanVerdict.OBJECT);
    // Broken JSON with an escaped key is still broken: JSON.parse says so.
    assert.equal(scanFrame(Buffer.from('{"\\u0074o":"P"'), top), ScanVerdict.INVALID);
  });
});
