--[[
  Queues one message for one or more devices of a domain and wakes each device: an
  idempotent insert (a de-duplication member seen before queues nothing), then the queue's
  bounds, then a wake-up on the device's channel. On a standalone Redis one call serves many
  devices; on Redis Cluster each device's keys have their own slot, so one call per device.

  KEYS, three per device: meta, queue, ids (contracts/redis/keys.ts deviceKeys)
  ARGV[1]  now (ms)
  ARGV[2]  de-duplication member (sender device|message id)
  ARGV[3]  expiresAt (ms)
  ARGV[4]  the stored message: KIND and BODY of the entry (contracts/wire/queue-entry.ts)
  ARGV[5]  bytes: the payload's size, counted against maxBytes
  ARGV[6]  maxCount: entries a queue may hold
  ARGV[7]  maxBytes: payload bytes a queue may hold
  ARGV[8]  keyTtlMs: expiry of the device's keys
  ARGV[9]  newEpoch: the epoch of a queue this call creates
  ARGV[10] dedupUntil (ms): until when the member is remembered
  ARGV[10 + i]  the channel of the i-th device

  Returns five numbers per device, concatenated: queued (1) or duplicate (0), seq, receivers
  (connections that got the wake-up: > 0 means the device is online), expired, dropped.
]]
--- @include "trim-expired"
--- @include "device-channel"

-- A wake-up carries an entry of at most this size, so the relay holding the socket can
-- write it without reading it back.
local WAKE_ENTRY_MAX = 16384

local function enqueue_one(m, q, ids, channel)
  local now = tonumber(ARGV[1])
  redis.call('ZREMRANGEBYSCORE', ids, '-inf', now)
  if redis.call('ZSCORE', ids, ARGV[2]) then return {0, 0, 0, 0, 0} end
  local meta = redis.call('HMGET', m, 'head', 'next', 'bytes')
  local head, nxt, bytes = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3])
  if not head then
    redis.call('HSET', m, 'epoch', ARGV[9], 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
    redis.call('DEL', q)
    head, nxt, bytes = 1, 1, 0
  end
  local expired
  head, bytes, expired = trim_expired(q, head, nxt, bytes, now)
  local size = tonumber(ARGV[5])
  local maxCount, maxBytes = tonumber(ARGV[6]), tonumber(ARGV[7])
  local dropped = 0
  while nxt > head and ((nxt - head + 1) > maxCount or (bytes + size) > maxBytes) do
    local first = redis.call('LPOP', q)
    head = head + 1
    bytes = bytes - entry_bytes(first)
    dropped = dropped + 1
  end
  local seq = nxt
  local entry = queue_entry(seq, ARGV[3], size, ARGV[4])
  redis.call('RPUSH', q, entry)
  redis.call('HSET', m, 'head', head, 'next', seq + 1, 'bytes', bytes + size)
  if dropped + expired > 0 then redis.call('HINCRBY', m, 'drops', dropped + expired) end
  redis.call('ZADD', ids, ARGV[10], ARGV[2])
  local ttl = tonumber(ARGV[8])
  -- Refresh expiry only when it fell well below the target: a PTTL read costs less than a
  -- PEXPIRE write, which also lands in the AOF. Each key is checked on its own, since an
  -- emptied list is recreated by RPUSH without any expiry.
  for _, key in ipairs({m, q, ids}) do
    if redis.call('PTTL', key) < ttl - 1800000 then redis.call('PEXPIRE', key, ttl) end
  end
  -- Not when this enqueue dropped entries: the relay must then read the queue, which tells
  -- it (and so the device) about the drops.
  local carried = nil
  if #entry <= WAKE_ENTRY_MAX and dropped + expired == 0 then carried = entry end
  local wake = wake_message(seq, redis.call('HGET', m, 'epoch'), carried)
  local receivers = redis.call('SPUBLISH', channel, wake)
  return {1, seq, receivers, expired, dropped}
end

local results = {}
for i = 1, #KEYS / 3 do
  local r = enqueue_one(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], ARGV[10 + i])
  for _, v in ipairs(r) do results[#results + 1] = v end
end
return results
