--[[
  Revokes an activation code. Revoked stays revoked; a used code cannot be revoked.

  KEYS[1] codes (contracts/redis/keys.ts managerKeys)
  ARGV[1] code id
  ARGV[2] now (ISO)

  Returns {'OK', code JSON}, {'CODE_USED', code JSON} or {'NOT_FOUND'}.
]]

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'NOT_FOUND'} end
local c = cjson.decode(raw)
if c.revokedAt then return {'OK', raw} end
if c.usedAt then return {'CODE_USED', raw} end
c.revokedAt = ARGV[2]
raw = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return {'OK', raw}
