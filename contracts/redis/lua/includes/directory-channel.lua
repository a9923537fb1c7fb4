--[[
  Messages on a domain's directory channel (contracts/wire/directory-channel.ts reads them):
  "changed" (reload the directory) and "revoke:<device>" (close that device's connections).
]]
local function publish_directory_changed(channel)
  redis.call('SPUBLISH', channel, 'changed')
end

local function publish_revoked(channel, device)
  redis.call('SPUBLISH', channel, 'revoke:' .. device)
end
