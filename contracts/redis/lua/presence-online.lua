--[[
  Marks a device online under a connection; publishes only when what watchers see (online
  and status) changed.

  KEYS[1] the identity's presence hash (contracts/redis/keys.ts identityKeys)
  ARGV[1] device
  ARGV[2] connectionId
  ARGV[3] status: active or idle
  ARGV[4] the identity's presence channel
  ARGV[5] the presence event to publish (contracts/wire/presence.ts)

  Returns 1 when it published, 0 otherwise.
]]
--- @include "presence-value"

local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], presence_value(ARGV[2], ARGV[3]))
if old and presence_status(old) == ARGV[3] then return 0 end
redis.call('SPUBLISH', ARGV[4], ARGV[5])
return 1
