--[[
  Deletes a workspace.

  KEYS[1] workspaces, KEYS[2] directory workspaces (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] workspace id

  Returns {'OK'} or {'NOT_FOUND'}.
]]
--- @include "directory-channel"

if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[2], ARGV[2])
publish_directory_changed(ARGV[1])
return {'OK'}
