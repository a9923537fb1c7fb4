--[[
  Applies ledger entries to a domain's storage ledger (includes/ledger.lua): what the queue
  and payload scripts return on Redis Cluster, where the ledger lives in another slot than
  the device or payload they changed. Versioned, so applying late, twice or out of order is
  harmless.

  KEYS[1] storage, KEYS[2] storageDue (contracts/redis/keys.ts directoryKeys)
  ARGV[1] now (ms)
  ARGV[2 + 4k .. 5 + 4k] member, version, bytes, deadline of entry k

  Returns the ledger's total.
]]
--- @include "ledger"

local h, due = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local delta = ledger_sweep(h, due, now)
for i = 2, #ARGV, 4 do
  delta = delta + ledger_put(h, due, ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3]))
end
return ledger_add(h, delta)
