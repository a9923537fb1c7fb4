--[[
  Checks and spends an activation code and enrolls the device in one step: two concurrent
  redemptions cannot both pass.

  KEYS[1] codes, KEYS[2] members, KEYS[3] devices, KEYS[4] memberDevices,
  KEYS[5] directory devices (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] code id
  ARGV[3] the code's hash
  ARGV[4] now (ms)
  ARGV[5] now (ISO)
  ARGV[6] device id
  ARGV[7] device JSON (without memberId)

  Returns {'OK', member JSON, device JSON}, or {'CODE_INVALID'}, {'CODE_REVOKED'},
  {'CODE_USED'}, {'CODE_EXPIRED'}, {'CONFLICT'} (the device id is taken).
]]
--- @include "directory-channel"

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'CODE_INVALID'} end
local c = cjson.decode(raw)
if c.hash ~= ARGV[3] then return {'CODE_INVALID'} end
if c.revokedAt then return {'CODE_REVOKED'} end
if c.usedAt then return {'CODE_USED'} end
if tonumber(c.expiresMs) <= tonumber(ARGV[4]) then return {'CODE_EXPIRED'} end
local member = redis.call('HGET', KEYS[2], c.memberId)
if not member then return {'CODE_INVALID'} end
if redis.call('HEXISTS', KEYS[3], ARGV[6]) == 1 then return {'CONFLICT'} end
c.usedAt = ARGV[5]
c.usedByDevice = ARGV[6]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(c))
local d = cjson.decode(ARGV[7])
d.memberId = c.memberId
local device = cjson.encode(d)
redis.call('HSET', KEYS[3], ARGV[6], device)
local list = redis.call('HGET', KEYS[4], c.memberId)
local devs = {}
if list then devs = cjson.decode(list) end
devs[#devs + 1] = ARGV[6]
redis.call('HSET', KEYS[4], c.memberId, cjson.encode(devs))
redis.call('HSET', KEYS[5], ARGV[6], c.memberId)
publish_directory_changed(ARGV[1])
return {'OK', member, device}
