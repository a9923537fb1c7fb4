--[[
  Gives back references to a payload stored apart (payload-store.lua): those of entries
  acknowledged, dropped or expired, and those taken for devices that did not queue the
  message. The last one deletes the payload.

  KEYS[1] the payload, KEYS[2] its reference count; then, on a standalone Redis only, the
          domain's ledger: storage, storageDue
  ARGV[1] n: references given back
  ARGV[2] now (ms)
  ARGV[3] the payload's ledger member (p:<sender>:<message id>)

  Returns {left, total}: the references left (-1 when the count is gone: expired), the
  ledger's total (-1 without the ledger keys).
]]
--- @include "ledger"

local payload, refs, h, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[2])
local left = -1
local delta = 0
if redis.call('EXISTS', refs) == 1 then
  left = redis.call('DECRBY', refs, ARGV[1])
  if left <= 0 then
    redis.call('DEL', payload, refs)
    left = 0
    if h then delta = ledger_put(h, due, ARGV[3], now, 0, now) end
  end
end
local total = -1
if h then total = ledger_add(h, delta + ledger_sweep(h, due, now)) end
return {left, total}
