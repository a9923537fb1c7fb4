--[[
  Appends an audit entry. The stream id takes the entry's time when it can (so time queries
  are range reads); when that would not be above the stream's last id (clocks of two
  Managers apart), Redis picks the id.

  KEYS[1] an audit stream (contracts/redis/keys.ts auditStreamKey)
  ARGV[1] maxLen: about this many newest entries are kept (XADD MAXLEN ~)
  ARGV[2] the entry's time (ms)
  ARGV[3] the entry JSON

  Returns the entry's stream id.
]]

local ok, id = pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[2] .. '-*', 'e', ARGV[3])
if not ok then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
end
return id
