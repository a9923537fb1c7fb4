--[[
  A cumulative ack: removes every entry with seq <= upTo from a device's queue.

  KEYS[1] meta, KEYS[2] queue (contracts/redis/keys.ts deviceKeys)
  ARGV[1] upTo
  ARGV[2] epoch: the queue the ack belongs to
  ARGV[3] told (optional): the drop count the device has provably seen signalled, recorded
          so that a later connection does not signal it again

  Returns {head} after the ack; {-1} without metadata, {-2} when the epoch differs (the ack
  belongs to a queue that no longer exists).
]]
--- @include "queue-entry"

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
    bytes = bytes - entry_bytes(entry)
  end
  head = head + #popped
  redis.call('HSET', m, 'head', head, 'bytes', bytes)
  -- An empty queue keeps its epoch for good: only a queue left unacked past retention expires.
  if head >= nxt then redis.call('PERSIST', m) end
end
return {head}
