--[[
  Creates members: their records, the paging index and the directory's identities. Reads
  and writes go in batches of 1000 (HMGET, variadic HSET and ZADD). Callers send at most
  about 1000 members per call, so no call holds Redis for long; an all-or-nothing import of
  more goes through import-members.lua under the domain's import guard.

  KEYS[1] members, KEYS[2] memberIndex, KEYS[3] directory identities, KEYS[4] importGuard
          (contracts/redis/keys.ts managerKeys)
  ARGV[1] mode: 'all' creates every member or none, 'each' every one not taken yet
  ARGV[2] the directory channel
  then for each member, three: id, member JSON, directory identity JSON

  Returns {'BUSY'} while an all-or-nothing import holds the guard (nothing is created: retry
  shortly); {'EXISTS', ids...} when mode is 'all' and any id exists (nothing is created);
  otherwise {'OK', created ids...}.
]]
--- @include "directory-channel"

if redis.call('EXISTS', KEYS[4]) == 1 then return {'BUSY'} end
local mode, channel = ARGV[1], ARGV[2]
local n = (#ARGV - 2) / 3
local batch = 1000
local exists = {}
for first = 0, n - 1, batch do
  local ids = {}
  for i = first, math.min(n, first + batch) - 1 do ids[#ids + 1] = ARGV[3 + 3 * i] end
  local found = redis.call('HMGET', KEYS[1], unpack(ids))
  for j = 1, #ids do
    if found[j] then exists[ids[j]] = true end
  end
end
if mode == 'all' then
  local existing = {'EXISTS'}
  for i = 0, n - 1 do
    local id = ARGV[3 + 3 * i]
    if exists[id] then existing[#existing + 1] = id end
  end
  if #existing > 1 then return existing end
end
local created = {'OK'}
local members, index, identities = {}, {}, {}
local function flush()
  if #members == 0 then return end
  redis.call('HSET', KEYS[1], unpack(members))
  redis.call('ZADD', KEYS[2], unpack(index))
  redis.call('HSET', KEYS[3], unpack(identities))
  members, index, identities = {}, {}, {}
end
for i = 0, n - 1 do
  local id = ARGV[3 + 3 * i]
  if not exists[id] then
    exists[id] = true
    members[#members + 1] = id
    members[#members + 1] = ARGV[4 + 3 * i]
    index[#index + 1] = 0
    index[#index + 1] = id
    identities[#identities + 1] = id
    identities[#identities + 1] = ARGV[5 + 3 * i]
    created[#created + 1] = id
    if #members >= 2 * batch then flush() end
  end
end
flush()
if #created > 1 then publish_directory_changed(channel) end
return created
