--[[
  A connection claims its device: creates the queue metadata when missing, records the
  connection as the device's current one and tells every other connection of the device (on
  any pod) to close. Claims are ordered: each takes an ordinal above every earlier one (the
  device's counter, and never below Redis's clock in µs, so a queue recreated under the
  device starts above its old ordinals too), and a connection closes only for a claim newer
  than its own, so of two simultaneous connects exactly the newer survives.

  KEYS[1] meta, KEYS[2] queue (contracts/redis/keys.ts deviceKeys)
  ARGV[1] newEpoch: the epoch of a queue this call creates
  ARGV[2] connectionId
  ARGV[3] the device's channel
  ARGV[4] mode: 'claim' (a new connection: a new ordinal, published), 'rejoin' (a connection
          whose queue vanished under it takes it up again with its ordinal, ARGV[5], unless a
          newer claim exists) or 'init' (only create the metadata: long-poll)
  ARGV[5] the connection's ordinal (rejoin)

  Returns {epoch, head, next, drops, created (1 or 0), told, ordinal}: drops above told
  happened while the device was not told (it was offline, or did not ack after the signal);
  ordinal is the claim's; a rejoin that a newer claim displaced returns {nil, …, -1, newer}.
]]
--- @include "device-channel"

local m, q = KEYS[1], KEYS[2]
local mode = ARGV[4]
local created = 0
local current = tonumber(redis.call('HGET', m, 'claim')) or 0
local ordinal = 0
if mode == 'rejoin' then
  ordinal = tonumber(ARGV[5])
  if current > ordinal then
    return {false, 0, 0, 0, 0, 0, -1, string.format('%d', current)}
  end
elseif mode == 'claim' then
  local time = redis.call('TIME')
  ordinal = math.max(current + 1, tonumber(time[1]) * 1000000 + tonumber(time[2]))
end
if not redis.call('HGET', m, 'epoch') then
  redis.call('HSET', m, 'epoch', ARGV[1], 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
  redis.call('DEL', q)
  created = 1
end
if mode ~= 'init' then
  redis.call('HSET', m, 'conn', ARGV[2], 'claim', string.format('%d', ordinal))
end
if mode == 'claim' then
  redis.call('SPUBLISH', ARGV[3], claim_message(string.format('%d', ordinal), ARGV[2]))
end
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'drops', 'told')
return {meta[1], tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4]), created,
  tonumber(meta[5]) or 0, string.format('%d', ordinal)}
