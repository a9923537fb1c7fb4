--[[
  Renames a workspace, or adds or removes members.

  KEYS[1] workspaces, KEYS[2] directory workspaces, KEYS[3] members
          (contracts/redis/keys.ts managerKeys)
  ARGV[1] the directory channel
  ARGV[2] workspace id
  ARGV[3] now (ISO)
  ARGV[4] op: 'add', 'remove' or 'rename'
  ARGV[5...] member ids (add), the member id (remove) or the new name (rename)

  Returns {'OK', record JSON, members JSON}; {'NOT_FOUND'} without the workspace,
  {'UNKNOWN_MEMBERS', ids...} when adding non-members, {'NOT_A_MEMBER'} when removing one.
]]
--- @include "enc-array"
--- @include "directory-channel"

local channel, id, now, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta = redis.call('HGET', KEYS[1], id)
if not meta then return {'NOT_FOUND'} end
local w = cjson.decode(meta)
local current = redis.call('HGET', KEYS[2], id)
local list = {}
if current then list = cjson.decode(current) end
if op == 'rename' then
  w.name = ARGV[5]
elseif op == 'add' then
  local missing = {'UNKNOWN_MEMBERS'}
  for i = 5, #ARGV do
    if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
  end
  if #missing > 1 then return missing end
  local seen = {}
  for _, m in ipairs(list) do seen[m] = true end
  for i = 5, #ARGV do
    if not seen[ARGV[i]] then
      seen[ARGV[i]] = true
      list[#list + 1] = ARGV[i]
    end
  end
  table.sort(list)
elseif op == 'remove' then
  local kept, found = {}, false
  for _, m in ipairs(list) do
    if m == ARGV[5] then found = true else kept[#kept + 1] = m end
  end
  if not found then return {'NOT_A_MEMBER'} end
  list = kept
end
w.updatedAt = now
meta = cjson.encode(w)
local members = enc_array(list)
redis.call('HSET', KEYS[1], id, meta)
if op ~= 'rename' then
  redis.call('HSET', KEYS[2], id, members)
  publish_directory_changed(channel)
end
return {'OK', meta, members}
