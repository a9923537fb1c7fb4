--[[
  Removes a member and its activation codes, marks its devices revoked (the records stay,
  out of the directory) and takes it out of every workspace.

  KEYS[1] members, KEYS[2] memberIndex, KEYS[3] directory identities, KEYS[4] devices,
  KEYS[5] memberDevices, KEYS[6] directory devices, KEYS[7] workspaces,
  KEYS[8] directory workspaces, KEYS[9] codes (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] member id
  ARGV[3] now (ISO)

  Returns {'OK', newly revoked device ids...} or {'NOT_FOUND'}.
]]
--- @include "enc-array"
--- @include "directory-channel"

local channel, id, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
local result = {'OK'}
local list = redis.call('HGET', KEYS[5], id)
if list then
  for _, dev in ipairs(cjson.decode(list)) do
    local raw = redis.call('HGET', KEYS[4], dev)
    if raw then
      local d = cjson.decode(raw)
      if not d.revokedAt then
        d.revokedAt = now
        redis.call('HSET', KEYS[4], dev, cjson.encode(d))
        result[#result + 1] = dev
      end
    end
    redis.call('HDEL', KEYS[6], dev)
  end
  redis.call('HDEL', KEYS[5], id)
end
local ws = redis.call('HGETALL', KEYS[8])
for i = 1, #ws, 2 do
  local kept, found = {}, false
  for _, m in ipairs(cjson.decode(ws[i + 1])) do
    if m == id then found = true else kept[#kept + 1] = m end
  end
  if found then
    redis.call('HSET', KEYS[8], ws[i], enc_array(kept))
    local meta = redis.call('HGET', KEYS[7], ws[i])
    if meta then
      local w = cjson.decode(meta)
      w.updatedAt = now
      redis.call('HSET', KEYS[7], ws[i], cjson.encode(w))
    end
  end
end
local codes = redis.call('HGETALL', KEYS[9])
for i = 1, #codes, 2 do
  if cjson.decode(codes[i + 1]).memberId == id then redis.call('HDEL', KEYS[9], codes[i]) end
end
for i = 2, #result do publish_revoked(channel, result[i]) end
publish_directory_changed(channel)
return result
