--[[
  A cumulative ack: removes every entry with seq <= upTo from a device's queue; keeps the
  domain's storage ledger (standalone).

  KEYS[1] meta, KEYS[2] queue, KEYS[3] ids (contracts/redis/keys.ts deviceKeys); then, on a
          standalone Redis only, the domain's ledger: storage, storageDue (includes/ledger.lua)
  ARGV[1] upTo
  ARGV[2] epoch: the queue the ack belongs to
  ARGV[3] told ('' for none): the drop count the device has provably seen signalled,
          recorded so that a later connection does not signal it again
  ARGV[4] now (ms)
  ARGV[5] the device's ledger member (d:<device>)

  Returns {head, version, charge, deadline, total, ref, n, ref, n…} after the ack: the device's
  ledger entry (version 0 when the ack changed nothing), the ledger's total (-1 without the ledger keys), and each stored payload that
  n removed entries referenced (for the relay to release); {-1} without metadata, {-2} when
  the epoch differs (the ack belongs to a queue that no longer exists).
]]
--- @include "queue-entry"
--- @include "ledger"

local m, q, ids, h, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[4])
local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'bytes', 'told', 'ibytes', 'pbytes', 'v')
if not meta[1] then return {-1} end
if meta[1] ~= ARGV[2] then return {-2} end
if ARGV[3] ~= '' and tonumber(ARGV[3]) > (tonumber(meta[5]) or 0) then
  redis.call('HSET', m, 'told', ARGV[3])
end
local head, nxt = tonumber(meta[2]), tonumber(meta[3])
local bytes, ibytes, pbytes = tonumber(meta[4]) or 0, tonumber(meta[6]) or 0, tonumber(meta[7]) or 0
local version = math.max((tonumber(meta[8]) or 0) + 1, now)
local upTo = math.min(tonumber(ARGV[1]), nxt - 1)
local n = upTo - head + 1
local removed = new_removed()
local changed = false
if n > 0 then
  local popped = redis.call('LPOP', q, n)
  if popped then
    for _, entry in ipairs(popped) do note_removed(removed, entry) end
    head = head + #popped
  else
    head = upTo + 1
  end
  bytes = bytes - removed.bytes
  pbytes = pbytes - removed.pbytes
  apply_removed_senders(m, removed)
  changed = true
  -- An empty queue keeps its epoch for good: only a queue left unacked past retention expires.
  if head >= nxt then
    redis.call('PERSIST', m)
    bytes, pbytes = 0, 0
  end
end
-- De-duplication records past their window are removed by the next enqueue (or expire
-- with their key): an ack stays as lean as it can.
if changed then
  redis.call('HSET', m, 'head', head, 'bytes', bytes, 'ibytes', ibytes, 'pbytes', pbytes, 'v', version)
end

local charge, deadline = 0, 0
if changed then
  charge = bytes - pbytes + ibytes
  deadline = charge_deadline(now, redis.call('PTTL', q), redis.call('PTTL', ids))
else
  version = 0
end
local total = -1
if h then
  local delta = ledger_sweep(h, due, now)
  if changed then delta = delta + ledger_put(h, due, ARGV[5], version, charge, deadline) end
  total = ledger_add(h, delta)
end
local result = {head, version, charge, deadline, total}
append_refs(result, removed)
return result
