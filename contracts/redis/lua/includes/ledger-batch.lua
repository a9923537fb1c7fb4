--[[
  A batch call's view of each domain ledger its items touch (enqueue.lua, ack.lua): swept and
  read once, kept as a running total across the items (each item sees the total the items
  before it left, as separate calls would), and the total's change written once, at the end
  (ledger_batch_flush), rather than a sweep, a read and an HINCRBY per item.
]]
--- @include "ledger"

local ledger_batch = {}

-- {total, pending}: the running total, and what is not written to the hash yet.
local function ledger_batch_of(h, due, now)
  local view = ledger_batch[h]
  if not view then
    local swept = ledger_sweep(h, due, now)
    view = {total = ledger_total(h) + swept, pending = swept}
    ledger_batch[h] = view
  end
  return view
end

-- An item's change, once the item succeeded: a failed item's change is not counted, as a
-- failed call's was not.
local function ledger_batch_add(view, delta)
  view.total = view.total + delta
  view.pending = view.pending + delta
end

local function ledger_batch_flush()
  for h, view in pairs(ledger_batch) do
    if view.pending ~= 0 then redis.call('HINCRBY', h, 'total', view.pending) end
  end
end
