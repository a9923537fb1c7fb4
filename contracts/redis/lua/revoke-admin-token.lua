--[[
  Revokes the admin token of a name.

  KEYS[1] adminTokens, KEYS[2] adminTokenNames (contracts/redis/keys.ts globalKeys)
  ARGV[1] name

  Returns {'OK'} or {'NOT_FOUND'}.
]]

local hash = redis.call('HGET', KEYS[2], ARGV[1])
if not hash then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], hash)
return {'OK'}
