--[[
  Undoes part of an all-or-nothing member import that could not finish: removes up to
  ARGV[3] members named in the import journal (rows that import created: its chunks wrote
  only ids that were free), oldest first. The caller holds the import guard, its own or one
  taken to clean up after an import whose Manager died. Called until nothing is left.

  KEYS[1] members, KEYS[2] memberIndex, KEYS[3] directory identities, KEYS[4] importGuard,
  KEYS[5] importJournal (contracts/redis/keys.ts managerKeys)
  ARGV[1] the caller's guard token
  ARGV[2] how long the guard lives (ms) unless renewed
  ARGV[3] how many to remove in this call

  Returns {'LOST'} when the guard is not the caller's; otherwise {'OK', members left}.
]]

if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {'LOST'} end
redis.call('PEXPIRE', KEYS[4], ARGV[2])
local ids = redis.call('LPOP', KEYS[5], tonumber(ARGV[3]))
if ids then
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
  redis.call('HDEL', KEYS[3], unpack(ids))
end
return {'OK', redis.call('LLEN', KEYS[5])}
