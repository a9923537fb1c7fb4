--[[
  Writes one chunk (about 1000 rows) of an all-or-nothing member import, while the import
  holds the domain's import guard: single creates and other imports wait meanwhile
  (create-members.lua answers BUSY), so the ids the import found free stay free. Each chunk
  renews the guard and appends its ids to the import journal, so the import can be undone
  (rollback-member-import.lua) if it cannot finish, by itself or, should its Manager die, by
  the next import into the domain or the next Manager to start. Relays are told only when the
  import commits (finish-member-import.lua).

  KEYS[1] members, KEYS[2] memberIndex, KEYS[3] directory identities, KEYS[4] importGuard,
  KEYS[5] importJournal (contracts/redis/keys.ts managerKeys)
  ARGV[1] the import's guard token
  ARGV[2] how long the guard lives (ms) unless renewed
  then for each member, three: id, member JSON, directory identity JSON

  Returns {'LOST'} when the guard is not this import's any more (nothing is written: the
  import must not go on); {'EXISTS', ids...} when any id of the chunk exists (nothing is
  written); otherwise {'OK'}.
]]

if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {'LOST'} end
redis.call('PEXPIRE', KEYS[4], ARGV[2])
local n = (#ARGV - 2) / 3
if n < 1 then return {'OK'} end
local ids = {}
for i = 0, n - 1 do ids[#ids + 1] = ARGV[3 + 3 * i] end
local found = redis.call('HMGET', KEYS[1], unpack(ids))
local existing = {'EXISTS'}
for j = 1, #ids do
  if found[j] then existing[#existing + 1] = ids[j] end
end
if #existing > 1 then return existing end
local members, index, identities = {}, {}, {}
for i = 0, n - 1 do
  local id = ARGV[3 + 3 * i]
  members[#members + 1] = id
  members[#members + 1] = ARGV[4 + 3 * i]
  index[#index + 1] = 0
  index[#index + 1] = id
  identities[#identities + 1] = id
  identities[#identities + 1] = ARGV[5 + 3 * i]
end
redis.call('HSET', KEYS[1], unpack(members))
redis.call('ZADD', KEYS[2], unpack(index))
redis.call('HSET', KEYS[3], unpack(identities))
redis.call('RPUSH', KEYS[5], unpack(ids))
return {'OK'}
