--[[
  Records when an existing device was last seen.

  KEYS[1] devices, KEYS[2] lastSeen (contracts/redis/keys.ts managerKeys)
  ARGV[1] device id
  ARGV[2] now (ISO)

  Returns {'OK'}, or {'NOT_FOUND'} for a device that does not exist.
]]

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'NOT_FOUND'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'OK'}
