--[[
  Marks a device offline, only if this connection is still the one recorded: a displaced or
  crashed connection never hides the device's newer one.

  KEYS[1] the identity's presence hash (contracts/redis/keys.ts identityKeys)
  ARGV[1] device
  ARGV[2] connectionId
  ARGV[3] the identity's presence channel
  ARGV[4] the presence event to publish (contracts/wire/presence.ts)

  Returns 1 when it changed something, 0 otherwise.
]]
--- @include "presence-value"

local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or not is_presence_of(old, ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SPUBLISH', ARGV[3], ARGV[4])
return 1
