--[[
  Stores a new activation code for a member.

  KEYS[1] members, KEYS[2] codes (contracts/redis/keys.ts managerKeys)
  ARGV[1] member id
  ARGV[2] code id
  ARGV[3] the stored code JSON

  Returns {'OK'}, {'NOT_FOUND'} without the member, or {'COLLISION'} when the code id is
  taken (issue another).
]]

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'NOT_FOUND'} end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return {'COLLISION'} end
return {'OK'}
