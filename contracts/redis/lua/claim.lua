--[[
  A connection claims its device: creates the queue metadata when missing, records the
  connection as the device's current one and tells every other connection of the device (on
  any pod) to close.

  KEYS[1] meta, KEYS[2] queue (contracts/redis/keys.ts deviceKeys)
  ARGV[1] newEpoch: the epoch of a queue this call creates
  ARGV[2] connectionId
  ARGV[3] the device's channel

  Returns {epoch, head, next, drops, created (1 or 0), told}: drops above told happened while
  the device was not told (it was offline, or did not ack after the signal).
]]
--- @include "device-channel"

local m, q = KEYS[1], KEYS[2]
local created = 0
if not redis.call('HGET', m, 'epoch') then
  redis.call('HSET', m, 'epoch', ARGV[1], 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
  redis.call('DEL', q)
  created = 1
end
redis.call('HSET', m, 'conn', ARGV[2])
redis.call('SPUBLISH', ARGV[3], claim_message(ARGV[2]))
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'drops', 'told')
return {meta[1], tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4]), created, tonumber(meta[5]) or 0}
