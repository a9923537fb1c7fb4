--[[
  Creates a workspace of existing members.

  KEYS[1] workspaces, KEYS[2] directory workspaces, KEYS[3] members
          (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] workspace id
  ARGV[3] the workspace's record JSON
  ARGV[4] its members JSON
  ARGV[5...] its member ids

  Returns {'OK'}, {'ALREADY_EXISTS'} or {'NOT_FOUND', unknown members...}.
]]
--- @include "directory-channel"

if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {'ALREADY_EXISTS'} end
local missing = {'NOT_FOUND'}
for i = 5, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 1 then return missing end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
publish_directory_changed(ARGV[1])
return {'OK'}
