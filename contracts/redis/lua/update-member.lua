--[[
  Changes a member's display name and e-mail, and its directory identity.

  KEYS[1] members, KEYS[2] directory identities (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] member id
  ARGV[3] '1' to set the display name, '0' to keep it
  ARGV[4] the display name
  ARGV[5] emailMode: 'keep', 'clear' or 'set'
  ARGV[6] the e-mail
  ARGV[7] updatedAt (ISO)

  Returns {'OK', member JSON} or {'NOT_FOUND'}.
]]
--- @include "directory-channel"

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'NOT_FOUND'} end
local m = cjson.decode(raw)
if ARGV[3] == '1' then m.displayName = ARGV[4] end
if ARGV[5] == 'clear' then m.email = nil elseif ARGV[5] == 'set' then m.email = ARGV[6] end
m.updatedAt = ARGV[7]
local out = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[2], out)
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({displayName = m.displayName}))
publish_directory_changed(ARGV[1])
return {'OK', out}
