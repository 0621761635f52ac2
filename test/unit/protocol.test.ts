import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent, nestsDeeperThan, parseClientFrame, PING_FRAME, readClientFrame, ServerFrames, withFrom } from '../../src/signaling/protocol.js';
import { MAX_JSON_DEPTH } from '../../src/signaling/frame-scan.js';
import { PeerIds } from '../../src/signaling/peer-ids.js';

describe('parseClientFrame', () => {
  test('exact "ping" is the ping frame; anything near it is not', () => {
    assert.equal(parseClientFrame('ping'), PING_FRAME);
    assert.deepEqual(parseClientFrame('ping'), { type: 'ping' });
    for (const text of ['ping ', ' ping', 'PING', 'pong', '"ping"']) {
      assert.notEqual(parseClientFrame(text).type, 'ping', text);
    }
    assert.deepEqual(parseClientFrame('"ping"'), { type: 'frame.invalid', reason: 'invalid_json' });
  });

  test('authenticate with string username and password carries the credentials (and only them)', () => {
    const text = JSON.stringify({ event: 'authenticate', data: { username: 'alice', password: 'pw', extra: 1 } });
    assert.deepEqual(parseClientFrame(text), { type: 'frame.authenticate', credentials: { username: 'alice', password: 'pw' } });
    assert.deepEqual(parseClientFrame('{"event":"authenticate","data":{"username":"","password":""}}'), {
      type: 'frame.authenticate',
      credentials: { username: '', password: '' },
    });
  });

  test('a username of up to 508 bytes in UTF-8 (what TURN can carry) is checked; a longer one is not', () => {
    for (const username of ['a'.repeat(508), 'é'.repeat(254)]) {
      const frame = parseClientFrame(JSON.stringify({ event: 'authenticate', data: { username, password: 'p'.repeat(8000) } }));
      assert.deepEqual(frame, { type: 'frame.authenticate', credentials: { username, password: 'p'.repeat(8000) } });
    }
  });

  test('authenticate with missing or malformed credentials has credentials null', () => {
    const bad = [
      { event: 'authenticate' },
      { event: 'authenticate', data: null },
      { event: 'authenticate', data: 'alice:pw' },
      { event: 'authenticate', data: { username: 'alice' } },
      { event: 'authenticate', data: { password: 'pw' } },
      { event: 'authenticate', data: { username: 1, password: 'pw' } },
      { event: 'authenticate', data: { username: 'alice', password: null } },
      { event: 'authenticate', data: [] },
      { event: 'authenticate', data: { username: 'a'.repeat(509), password: 'pw' } },
      { event: 'authenticate', data: { username: 'é'.repeat(255), password: 'pw' } }, // 510 bytes in UTF-8
    ];
    for (const frame of bad) {
      assert.deepEqual(parseClientFrame(JSON.stringify(frame)), { type: 'frame.authenticate', credentials: null }, JSON.stringify(frame));
    }
  });

  test('an object with a string "to" is a unicast message keeping the text and payload', () => {
    const text = '{"event":"offer","to":"AAAAAAAAAAAAAA==","data":{"sdp":"x"}}';
    assert.deepEqual(parseClientFrame(text), {
      type: 'frame.message',
      text,
      payload: { event: 'offer', to: 'AAAAAAAAAAAAAA==', data: { sdp: 'x' } },
      to: 'AAAAAAAAAAAAAA==',
    });
  });

  test('an object without "to" is a broadcast message (to undefined)', () => {
    for (const text of ['{"event":"candidate","data":1}', '{}', ' { "a" : [1,2] } ', '{"event":"x","from":"spoof"}']) {
      const frame = parseClientFrame(text);
      assert.equal(frame.type, 'frame.message', text);
      if (frame.type !== 'frame.message') continue;
      assert.equal(frame.text, text);
      assert.deepEqual(frame.payload, JSON.parse(text));
      assert.equal(frame.to, undefined);
      assert.equal(Object.hasOwn(frame, 'to'), true);
    }
  });

  test('an event other than "authenticate" never yields credentials', () => {
    const frame = parseClientFrame('{"event":"Authenticate","data":{"username":"a","password":"b"}}');
    assert.equal(frame.type, 'frame.message');
  });

  test('"to" that is not a string is invalid_to', () => {
    for (const to of [1, null, true, ['x'], { id: 'x' }]) {
      const text = JSON.stringify({ event: 'offer', to });
      assert.deepEqual(parseClientFrame(text), { type: 'frame.invalid', reason: 'invalid_to' }, text);
    }
  });

  test('invalid JSON, or JSON that is not an object, is invalid_json', () => {
    for (const text of ['', '{', '{"a":1', 'not json', '[]', '[{"to":"x"}]', '1', '"str"', 'null', 'true', '{"a":1}}']) {
      assert.deepEqual(parseClientFrame(text), { type: 'frame.invalid', reason: 'invalid_json' }, JSON.stringify(text));
    }
  });

  test('never throws on odd input', () => {
    for (const text of ['\u0000', '{"__proto__":{"x":1}}', '\uFFFF', '{"to":"\\ud800"}', 'x'.repeat(10_000)]) {
      assert.doesNotThrow(() => parseClientFrame(text));
    }
  });
});

describe('withFrom', () => {
  const PEER = 'AbCdEfGhIjKlMn==';

  function check(text: string): string {
    const payload = JSON.parse(text) as Record<string, unknown>;
    const expected = { ...payload, from: PEER };
    const out = withFrom(text, payload, PEER);
    let parsed: unknown;
    assert.doesNotThrow(() => (parsed = JSON.parse(out)), `valid JSON: ${out}`);
    assert.deepEqual(parsed, expected);
    return out;
  }

  test('splice path: no client "from": appended to the received text', () => {
    const text = '{"event":"offer","to":"X","data":{"sdp":"v=0\\r\\n}"}}';
    const out = check(text);
    assert.equal(out, `{"event":"offer","to":"X","data":{"sdp":"v=0\\r\\n}"},"from":"${PEER}"}`);
  });

  test('splice path keeps the client text byte for byte (spacing, key order, number formatting)', () => {
    const text = '{ "b" : 1.50 , "a" : [ 1e3 ] }';
    const out = check(text);
    assert.equal(out, `{ "b" : 1.50 , "a" : [ 1e3 ] ,"from":"${PEER}"}`);
  });

  test('splice path with whitespace around the object', () => {
    check('  {"a":1}  ');
    check('\n{"a":{"b":{}}}\t');
  });

  test('overwrite path: a client "from" is replaced by the sender peer_id', () => {
    const out = check('{"event":"offer","from":"SPOOFED","to":"X"}');
    assert.equal(JSON.parse(out).from, PEER);
    assert.equal(out.includes('SPOOFED'), false);
    check('{"from":null}');
    check('{"from":{"nested":"}"}}');
  });

  test('a "from" written with an escape in the key is overwritten too', () => {
    const out = check('{"\\u0066rom":"SPOOFED","a":1}');
    assert.equal(out.includes('SPOOFED'), false);
  });

  test('a nested "from" is not touched; the top-level one is added', () => {
    const out = check('{"data":{"from":"inner"}}');
    assert.equal(JSON.parse(out).data.from, 'inner');
  });

  test('empty objects, with and without whitespace', () => {
    assert.equal(check('{}'), `{"from":"${PEER}"}`);
    check('{ }');
    check(' {\n} ');
  });

  test('the peer id is JSON-escaped', () => {
    const out = withFrom('{"a":1}', { a: 1 }, 'we"ird\\');
    assert.deepEqual(JSON.parse(out), { a: 1, from: 'we"ird\\' });
  });
});

describe('encodeEvent / ServerFrames', () => {
  test('{"event"} without data, {"event","data"} with it', () => {
    assert.equal(encodeEvent('ping'), '{"event":"ping"}');
    assert.equal(encodeEvent('x', { a: 1 }), '{"event":"x","data":{"a":1}}');
    assert.equal(encodeEvent('x', null), '{"event":"x","data":null}');
    assert.equal(encodeEvent('x', 0), '{"event":"x","data":0}');
  });

  test('server frames match docs/protocol.md', () => {
    assert.deepEqual(JSON.parse(ServerFrames.unauthorized()), { event: 'unauthorized' });
    assert.deepEqual(JSON.parse(ServerFrames.authenticated('P', [{ peer_id: 'Q', username: 'bob' }])), {
      event: 'authenticated',
      data: { peer_id: 'P', peers: [{ peer_id: 'Q', username: 'bob' }] },
    });
    assert.deepEqual(JSON.parse(ServerFrames.authenticated('P', [])), { event: 'authenticated', data: { peer_id: 'P', peers: [] } });
    assert.deepEqual(JSON.parse(ServerFrames.joined('P', 'alice')), { event: 'joined', data: { peer_id: 'P', username: 'alice' } });
    assert.deepEqual(JSON.parse(ServerFrames.left('P', 'alice')), { event: 'left', data: { username: 'alice', peer_id: 'P' } });
    assert.deepEqual(JSON.parse(ServerFrames.invalid('invalid_json')), { event: 'invalid_message', data: { reason: 'invalid_json' } });
    assert.deepEqual(JSON.parse(ServerFrames.invalid('unknown_peer', 'P')), {
      event: 'invalid_message',
      data: { reason: 'unknown_peer', peer_id: 'P' },
    });
  });
});

describe('PeerIds', () => {
  test('base64 of 10 random bytes: 16 characters ending in ==, distinct, across pool refills', () => {
    const peerIds = new PeerIds();
    const ids = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const id = peerIds.next();
      assert.match(id, /^[A-Za-z0-9+/]{14}==$/);
      assert.equal(Buffer.from(id, 'base64').length, 10);
      ids.add(id);
    }
    assert.equal(ids.size, 600);
  });
});

describe('nesting depth (a client object re-serialized recurses once per level)', () => {
  const nested = (depth: number, top = '"event":"x"') => `{${top},"data":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

  test(`up to ${MAX_JSON_DEPTH} levels is a message, one more is invalid_json, read either way (parsed, or scanned from bytes)`, () => {
    for (const top of ['"event":"x"', '"event":"x","from":"me"', '"event":"x","d\\u0061ta":1', '"event":"x","to":"p"']) {
      const ok = nested(MAX_JSON_DEPTH, top);
      const deep = nested(MAX_JSON_DEPTH + 1, top);
      assert.equal(parseClientFrame(ok).type, 'frame.message', top);
      assert.equal(readClientFrame(Buffer.from(ok)).type, 'frame.message', top);
      assert.deepEqual(parseClientFrame(deep), { type: 'frame.invalid', reason: 'invalid_json' }, top);
      assert.deepEqual(readClientFrame(Buffer.from(deep)), { type: 'frame.invalid', reason: 'invalid_json' }, top);
    }
  });

  test('a 64 KiB frame nested 16,000 deep with a client `from` is invalid_json, not a stack overflow when forwarded', () => {
    const text = `{"event":"x","from":"me","data":${'['.repeat(16_000)}${']'.repeat(16_000)}}`;
    assert.deepEqual(readClientFrame(Buffer.from(text)), { type: 'frame.invalid', reason: 'invalid_json' });
    assert.deepEqual(parseClientFrame(text), { type: 'frame.invalid', reason: 'invalid_json' });
  });

  test('brackets inside strings (escaped quotes included) do not count', () => {
    assert.equal(nestsDeeperThan(`{"a":"${'['.repeat(1000)}\\"${'{'.repeat(1000)}"}`, 2), false);
    assert.equal(nestsDeeperThan('{"a":[[1]]}', 2), true);
    assert.equal(nestsDeeperThan('{"a":[1]}', 2), false);
  });
});
