--[[
  Stores an admin token under its name, unless the token was ever revoked.

  KEYS[1] adminTokens, KEYS[2] adminTokenNames, KEYS[3] revokedAdminTokens
          (contracts/redis/keys.ts globalKeys)
  ARGV[1] mode: 'create' refuses a taken name; 'replace' revokes the name's old token (if
          any: it joins the revoked ones), and keeping the same token is a no-op
  ARGV[2] name
  ARGV[3] the token's hash
  ARGV[4] the token's info JSON
  ARGV[5] now (ISO time): when a replaced token was revoked

  Returns {'OK', 'created' | 'kept' | 'replaced'}; {'ALREADY_EXISTS'} when creating under a
  taken name; {'REVOKED'} when the token was revoked before (a revoked token never comes back).
]]

if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return {'REVOKED'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local outcome = 'created'
if old then
  if ARGV[1] == 'create' then return {'ALREADY_EXISTS'} end
  if old == ARGV[3] then return {'OK', 'kept'} end
  redis.call('HDEL', KEYS[1], old)
  redis.call('HSET', KEYS[3], old, cjson.encode({name = ARGV[2], revokedAt = ARGV[5], replaced = true}))
  outcome = 'replaced'
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return {'OK', outcome}
