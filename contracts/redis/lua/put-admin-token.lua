--[[
  Stores an admin token under its name.

  KEYS[1] adminTokens, KEYS[2] adminTokenNames (contracts/redis/keys.ts globalKeys)
  ARGV[1] mode: 'create' refuses a taken name; 'replace' makes the name's old token (if
          any) stop working, and keeping the same token is a no-op
  ARGV[2] name
  ARGV[3] the token's hash
  ARGV[4] the token's info JSON

  Returns {'OK'}, or {'ALREADY_EXISTS'} when creating under a taken name.
]]

local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then
  if ARGV[1] == 'create' then return {'ALREADY_EXISTS'} end
  if old == ARGV[3] then return {'OK'} end
  redis.call('HDEL', KEYS[1], old)
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return {'OK'}
