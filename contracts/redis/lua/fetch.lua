--[[
  Reads a window of a device's queue.

  KEYS[1] meta, KEYS[2] queue (contracts/redis/keys.ts deviceKeys)
  ARGV[1] fromSeq: the first seq wanted (the head when it is below)
  ARGV[2] maxCount: entries at most
  ARGV[3] maxBytes: stop after the entry that reaches this many payload bytes

  Returns {epoch, head, next, drops, expired, entries...}, or {false} when the device has no
  queue metadata (never connected, or everything expired). Expired entries are returned like
  the others (`expired` is always 0): the relay sends each as a `skip` the device acks, which
  tells it exactly which seq it missed, where trimming them here would only raise the drop
  count.
]]
--- @include "queue-entry"

local m, q = KEYS[1], KEYS[2]
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'drops')
if not meta[1] then return {false} end
local head, nxt, drops = tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4])
local result = {meta[1], head, nxt, drops, 0}
local from = math.max(tonumber(ARGV[1]), head)
local last = math.min(nxt - 1, from + tonumber(ARGV[2]) - 1)
if last >= from then
  local entries = redis.call('LRANGE', q, from - head, last - head)
  local budget = tonumber(ARGV[3])
  for _, entry in ipairs(entries) do
    result[#result + 1] = entry
    budget = budget - entry_bytes(entry)
    if budget <= 0 then break end
  end
end
return result
