--[[
  Revokes the admin token of a name, for good: its hash joins the revoked ones, which no later
  put-admin-token accepts again (a bootstrap token from the environment stays revoked).

  KEYS[1] adminTokens, KEYS[2] adminTokenNames, KEYS[3] revokedAdminTokens
          (contracts/redis/keys.ts globalKeys)
  ARGV[1] name
  ARGV[2] now (ISO time)

  Returns {'OK'} or {'NOT_FOUND'}.
]]

local hash = redis.call('HGET', KEYS[2], ARGV[1])
if not hash then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], hash)
redis.call('HSET', KEYS[3], hash, cjson.encode({name = ARGV[1], revokedAt = ARGV[2]}))
return {'OK'}
