--[[
  Marks a device revoked (once), removes it from the directory and announces the revocation
  on the directory channel.

  KEYS[1] devices, KEYS[2] directory devices (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] device id
  ARGV[3] now (ISO)

  Returns {'OK', device JSON} or {'NOT_FOUND'}.
]]
--- @include "directory-channel"

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'NOT_FOUND'} end
local d = cjson.decode(raw)
if not d.revokedAt then
  d.revokedAt = ARGV[3]
  raw = cjson.encode(d)
  redis.call('HSET', KEYS[1], ARGV[2], raw)
end
redis.call('HDEL', KEYS[2], ARGV[2])
publish_revoked(ARGV[1], ARGV[2])
return {'OK', raw}
