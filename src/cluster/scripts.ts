/**
 * The cluster's membership store: Lua scripts Redis runs atomically, so that
 * every change is decided once for the whole cluster and published, in the
 * same order to every server, on the `events` channel with a sequence
 * number (src/cluster/roster.ts applies them).
 *
 * Keys, under a prefix (KEYS are not declared: one Redis or a Sentinel set,
 * not Redis Cluster):
 *   seq               the sequence of membership changes
 *   rooms             set of rooms with members
 *   room:<room>       sorted set: peer id -> sequence of its join (join order)
 *   peer:<peer>       hash: room, username, node
 *   node:<node>       set of the node's peers
 *   nodes             sorted set: node -> last heartbeat (Redis TIME, ms)
 */

/** The prefix of every key and channel of the cluster in Redis. */
export const CLUSTER_PREFIX = 'wrs:';

/** Common helpers: every script starts with these. */
const LIB = `
local p = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function roster(room)
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', p .. 'room:' .. room, 0, -1, 'WITHSCORES')) do out[#out + 1] = id end
  local members = {}
  for i = 1, #out, 2 do
    local h = redis.call('HMGET', p .. 'peer:' .. out[i], 'username', 'node')
    members[#members + 1] = { out[i], h[1] or '', h[2] or '', tonumber(out[i + 1]) }
  end
  return members
end
local function leave(peer)
  local h = redis.call('HMGET', p .. 'peer:' .. peer, 'room', 'username', 'node')
  if not h[1] then return nil end
  local room = h[1]
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('ZREM', p .. 'room:' .. room, peer)
  redis.call('DEL', p .. 'peer:' .. peer)
  redis.call('SREM', p .. 'node:' .. h[3], peer)
  if redis.call('ZCARD', p .. 'room:' .. room) == 0 then redis.call('SREM', p .. 'rooms', room) end
  redis.call('PUBLISH', p .. 'events', cjson.encode({ s = seq, t = 'l', r = room, p = peer }))
  return { seq, room, peer, h[2], h[3], roster(room) }
end
local function join(room, peer, username, node)
  local before = roster(room)
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('ZADD', p .. 'room:' .. room, seq, peer)
  redis.call('HSET', p .. 'peer:' .. peer, 'room', room, 'username', username, 'node', node)
  redis.call('SADD', p .. 'node:' .. node, peer)
  redis.call('SADD', p .. 'rooms', room)
  redis.call('PUBLISH', p .. 'events', cjson.encode({ s = seq, t = 'j', r = room, p = peer, u = username, n = node }))
  return { seq, before }
end
`;

/** ARGV: prefix, room, peer, username, node. Returns {seq, before: {peer, username, node, seq}...}. */
export const JOIN = `${LIB}
local peer = ARGV[3]
if redis.call('EXISTS', p .. 'peer:' .. peer) == 1 then leave(peer) end
return join(ARGV[2], peer, ARGV[4], ARGV[5])`;

/** ARGV: prefix, peer. Returns {seq, room, peer, username, node, remaining} or nil. */
export const LEAVE = `${LIB}
return leave(ARGV[2])`;

/** ARGV: prefix. Returns {seq, {room, members}...}: every room with its members in join order. */
export const SNAPSHOT = `${LIB}
local rooms = {}
for _, room in ipairs(redis.call('SMEMBERS', p .. 'rooms')) do rooms[#rooms + 1] = { room, roster(room) } end
return { tonumber(redis.call('GET', p .. 'seq') or '0'), rooms }`;

/** ARGV: prefix, node. The node is alive now. */
export const HEARTBEAT = `${LIB}
redis.call('ZADD', p .. 'nodes', now_ms(), ARGV[2])
return 1`;

/**
 * ARGV: prefix, expiryMs. Removes every node whose heartbeat is older than
 * expiryMs, with its members. Returns the departures (as LEAVE does): only
 * to the one caller that removed them.
 */
export const REAP = `${LIB}
local dead = redis.call('ZRANGEBYSCORE', p .. 'nodes', '-inf', now_ms() - tonumber(ARGV[2]))
local out = {}
for _, node in ipairs(dead) do
  for _, peer in ipairs(redis.call('SMEMBERS', p .. 'node:' .. node)) do
    local d = leave(peer)
    if d then out[#out + 1] = d end
  end
  redis.call('DEL', p .. 'node:' .. node)
  redis.call('ZREM', p .. 'nodes', node)
end
return out`;

/**
 * ARGV: prefix, node, then (peer, room, username) for each member the node
 * holds now, in join order. Makes the store agree with the node (after Redis
 * came back, or at start): its peers the node no longer holds leave, those
 * it holds and the store lost join. Returns {departures, joins} where a join
 * is {seq, room, peer, username, before}.
 */
export const SYNC_NODE = `${LIB}
local node = ARGV[2]
redis.call('ZADD', p .. 'nodes', now_ms(), node)
local held = {}
for i = 3, #ARGV, 3 do held[ARGV[i]] = true end
local departures = {}
for _, peer in ipairs(redis.call('SMEMBERS', p .. 'node:' .. node)) do
  if not held[peer] then
    local d = leave(peer)
    if d then departures[#departures + 1] = d end
  end
end
local joins = {}
for i = 3, #ARGV, 3 do
  local peer, room = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', p .. 'peer:' .. peer, 'room', 'node')
  if h[1] ~= room or h[2] ~= node then
    if h[1] then leave(peer) end
    local j = join(room, peer, ARGV[i + 2], node)
    joins[#joins + 1] = { j[1], room, peer, ARGV[i + 2], j[2] }
  end
end
return { departures, joins }`;

/** ARGV: prefix, node. The node leaves the cluster (its members have left already). */
export const DEREGISTER = `${LIB}
for _, peer in ipairs(redis.call('SMEMBERS', p .. 'node:' .. ARGV[2])) do leave(peer) end
redis.call('DEL', p .. 'node:' .. ARGV[2])
redis.call('ZREM', p .. 'nodes', ARGV[2])
return 1`;
