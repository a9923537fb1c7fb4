/**
 * Lua scripts of the device queue. One script per operation keeps each operation atomic
 * within the device's slot. Queue entries are strings `SEQ:EXPIRES_MS:BYTES:KIND BODY`
 * (KIND `I` inline body, `R` body with a payload reference), so scripts read the fields
 * they need with one pattern match and never decode JSON.
 */

// Shared prologue: drop expired entries from the head of the queue (retention), counting
// them as drops so the device learns it must resync.
const trimExpired = `
local function trim_expired(q, head, nxt, bytes, now)
  local expired = 0
  while nxt > head and expired < 10000 do
    local first = redis.call('LINDEX', q, 0)
    if not first then break end
    local _, _, exp, size = string.find(first, '^%d+:(%d+):(%d+):')
    if tonumber(exp) > now then break end
    redis.call('LPOP', q)
    head = head + 1
    bytes = bytes - tonumber(size)
    expired = expired + 1
  end
  return head, bytes, expired
end
`;

const enqueueOne = `${trimExpired}
-- a: now, dedupMember, expiresAt, kindAndBody, bytes, maxCount, maxBytes, keyTtlMs,
-- newEpoch, (unused), dedupUntil: the enqueue script's ARGV.
local function enqueue_one(m, q, ids, channel, a)
  local now = tonumber(a[1])
  redis.call('ZREMRANGEBYSCORE', ids, '-inf', now)
  if redis.call('ZSCORE', ids, a[2]) then return {0, 0, 0, 0, 0} end
  local meta = redis.call('HMGET', m, 'head', 'next', 'bytes')
  local head, nxt, bytes = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3])
  if not head then
    redis.call('HSET', m, 'epoch', a[9], 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
    redis.call('DEL', q)
    head, nxt, bytes = 1, 1, 0
  end
  local expired
  head, bytes, expired = trim_expired(q, head, nxt, bytes, now)
  local size = tonumber(a[5])
  local maxCount, maxBytes = tonumber(a[6]), tonumber(a[7])
  local dropped = 0
  while nxt > head and ((nxt - head + 1) > maxCount or (bytes + size) > maxBytes) do
    local first = redis.call('LPOP', q)
    local _, _, s = string.find(first, '^%d+:%d+:(%d+):')
    head = head + 1
    bytes = bytes - tonumber(s)
    dropped = dropped + 1
  end
  local seq = nxt
  local entry = seq .. ':' .. a[3] .. ':' .. size .. ':' .. a[4]
  redis.call('RPUSH', q, entry)
  redis.call('HSET', m, 'head', head, 'next', seq + 1, 'bytes', bytes + size)
  if dropped + expired > 0 then redis.call('HINCRBY', m, 'drops', dropped + expired) end
  redis.call('ZADD', ids, a[11], a[2])
  local ttl = tonumber(a[8])
  -- Refresh expiry only when it fell well below the target: a PTTL read costs less than a
  -- PEXPIRE write, which also lands in the AOF. Each key is checked on its own, since an
  -- emptied list is recreated by RPUSH without any expiry.
  for _, key in ipairs({m, q, ids}) do
    if redis.call('PTTL', key) < ttl - 1800000 then redis.call('PEXPIRE', key, ttl) end
  end
  -- The wake-up carries a small entry itself, so the relay holding the socket can write it
  -- without reading it back: "m<seq> <epoch>", then a newline and the entry when it is at
  -- most 16 KiB. Not when this enqueue dropped entries: the relay must then read the queue,
  -- which tells it (and so the device) about the drops.
  local wake = 'm' .. seq .. ' ' .. redis.call('HGET', m, 'epoch')
  if #entry <= 16384 and dropped + expired == 0 then wake = wake .. '\\n' .. entry end
  local receivers = redis.call('SPUBLISH', channel, wake)
  return {1, seq, receivers, expired, dropped}
end
`;

/**
 * KEYS: meta, queue, ids. ARGV: now, dedupMember, expiresAt, kindAndBody, bytes, maxCount,
 * maxBytes, keyTtlMs, newEpoch, channel, dedupUntil.
 * Returns {queued (1) or duplicate (0), seq, receivers, expired, dropped}. Publishes the
 * wake-up `m<seq> <epoch>` (plus a newline and the entry when small) on the device's channel.
 */
export const enqueueScript = `${enqueueOne}
return enqueue_one(KEYS[1], KEYS[2], KEYS[3], ARGV[10], ARGV)
`;

/**
 * A fan-out in one call, for a standalone Redis (on a cluster the devices' keys live in
 * different slots). KEYS: meta, queue, ids of each device in turn. ARGV: the enqueue
 * script's eleven arguments (the channel one unused), then each device's channel.
 * Returns the enqueue script's five numbers for each device, concatenated.
 */
export const enqueueManyScript = `${enqueueOne}
local results = {}
for i = 1, #KEYS / 3 do
  local r = enqueue_one(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], ARGV[11 + i], ARGV)
  for _, v in ipairs(r) do results[#results + 1] = v end
end
return results
`;

/**
 * KEYS: meta, queue. ARGV: now (unused), fromSeq, maxCount, maxBytes.
 * Returns {epoch, head, next, drops, expired, entries...} or {false} when the device has
 * no queue metadata (never connected, or everything expired). Expired entries are returned
 * like the others (`expired` is always 0): the relay sends each as a `skip` the device
 * acks, which tells it exactly which seq it missed, where trimming them here would only
 * raise the drop count.
 */
export const fetchScript = `
local m, q = KEYS[1], KEYS[2]
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'drops')
if not meta[1] then return {false} end
local head, nxt, drops = tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4])
local result = {meta[1], head, nxt, drops, 0}
local from = math.max(tonumber(ARGV[2]), head)
local last = math.min(nxt - 1, from + tonumber(ARGV[3]) - 1)
if last >= from then
  local entries = redis.call('LRANGE', q, from - head, last - head)
  local budget = tonumber(ARGV[4])
  for i, entry in ipairs(entries) do
    result[#result + 1] = entry
    local _, _, s = string.find(entry, '^%d+:%d+:(%d+):')
    budget = budget - tonumber(s)
    if budget <= 0 then break end
  end
end
return result
`;

/**
 * KEYS: meta, queue. ARGV: upTo, epoch, told (optional: the drop count the device has
 * provably seen signalled, recorded so a later connection does not signal it again).
 * Returns {head} after removing every entry with seq <= upTo; {-1} without metadata,
 * {-2} when the epoch differs (the ack belongs to a queue that no longer exists).
 */
export const ackScript = `
local m, q = KEYS[1], KEYS[2]
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'bytes', 'told')
if not meta[1] then return {-1} end
if meta[1] ~= ARGV[2] then return {-2} end
if ARGV[3] and tonumber(ARGV[3]) > (tonumber(meta[5]) or 0) then
  redis.call('HSET', m, 'told', ARGV[3])
end
local head, nxt, bytes = tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4])
local upTo = math.min(tonumber(ARGV[1]), nxt - 1)
local n = upTo - head + 1
if n > 0 then
  local popped = redis.call('LPOP', q, n)
  for _, entry in ipairs(popped) do
    local _, _, s = string.find(entry, '^%d+:%d+:(%d+):')
    bytes = bytes - tonumber(s)
  end
  head = head + #popped
  redis.call('HSET', m, 'head', head, 'bytes', bytes)
  -- An empty queue keeps its epoch for good: only a queue left unacked past retention expires.
  if head >= nxt then redis.call('PERSIST', m) end
end
return {head}
`;

/**
 * KEYS: meta, queue. ARGV: newEpoch, connectionId, channel.
 * Creates the queue metadata when missing, records the connection as the device's
 * current one and tells every other connection of the device (on any pod) to close.
 * Returns {epoch, head, next, drops, created, told}: drops above told happened while the
 * device was not told (it was offline, or did not ack after the signal).
 */
export const claimScript = `
local m, q = KEYS[1], KEYS[2]
local created = 0
if not redis.call('HGET', m, 'epoch') then
  redis.call('HSET', m, 'epoch', ARGV[1], 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
  redis.call('DEL', q)
  created = 1
end
redis.call('HSET', m, 'conn', ARGV[2])
redis.call('SPUBLISH', ARGV[3], 'c' .. ARGV[2])
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'drops', 'told')
return {meta[1], tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4]), created, tonumber(meta[5]) or 0}
`;

/**
 * KEYS: presence hash. ARGV: device, connectionId, status, channel, eventJson.
 * Marks the device online under this connection; publishes only when what watchers see
 * (online + status) changed. Returns 1 when it published.
 */
export const presenceOnlineScript = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
if old then
  local _, _, oldStatus = string.find(old, '|([a-z]+)$')
  if oldStatus == ARGV[3] then return 0 end
end
redis.call('SPUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS: presence hash. ARGV: device, connectionId, channel, eventJson.
 * Marks the device offline only if this connection is still the one recorded, so a
 * displaced or crashed connection never hides the device's newer one. Returns 1 when it
 * changed something.
 */
export const presenceOfflineScript = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
if string.sub(old, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SPUBLISH', ARGV[3], ARGV[4])
return 1
`;
