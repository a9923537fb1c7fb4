--[[
  Drops expired entries from the head of a queue (retention), at most 10000 per call, into
  `acc` (see queue-entry), and returns the new head and how many it dropped: they count as
  drops, so the device learns it must resync.
]]
--- @include "queue-entry"

local function trim_expired(q, head, nxt, now, acc)
  local expired = 0
  while nxt > head and expired < 10000 do
    local first = redis.call('LINDEX', q, 0)
    if not first then break end
    local expires_at = entry_expiry_and_bytes(first)
    if expires_at > now then break end
    redis.call('LPOP', q)
    note_removed(acc, first)
    head = head + 1
    expired = expired + 1
  end
  return head, expired
end
