--[[
  Stores a payload once for a fan-out, before the queues that reference it: takes `n`
  references to it (one per device the message is queued for; the relay gives back those not
  queued, payload-release.lua). The first payload stored under an id is kept: a retry with
  other data reuses it (SET NX). Both keys expire after retention as a backstop, so a
  reference count a crash left too high cannot keep a payload for good.

  KEYS[1] the payload, KEYS[2] its reference count (contracts/redis/keys.ts payloadKeys); then,
          on a standalone Redis only, the domain's ledger: storage, storageDue
  ARGV[1] the payload (base64)
  ARGV[2] n: references to take
  ARGV[3] ttlMs: the backstop expiry
  ARGV[4] now (ms)
  ARGV[5] the payload's ledger member (p:<sender>:<message id>)
  ARGV[6] the payload's charge (bytes)

  Returns {state, total}: state 1 stored now, 0 stored before (references added), -1 stored
  by a relay that kept no reference count (left alone: the queues must then reference it
  without counting); total is the ledger's (-1 without the ledger keys).
]]
--- @include "ledger"

local payload, refs, h, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local state
local delta = 0
if redis.call('SET', payload, ARGV[1], 'NX', 'PX', ttl) then
  redis.call('SET', refs, ARGV[2], 'PX', ttl)
  state = 1
  if h then delta = ledger_put(h, due, ARGV[5], now, tonumber(ARGV[6]), now + ttl) end
elseif redis.call('EXISTS', refs) == 0 then
  state = -1
else
  redis.call('INCRBY', refs, ARGV[2])
  if redis.call('PTTL', payload) < ttl - 1800000 then
    redis.call('PEXPIRE', payload, ttl)
    redis.call('PEXPIRE', refs, ttl)
    if h then
      local _, bytes = ledger_get(h, ARGV[5])
      delta = ledger_put(h, due, ARGV[5], now, bytes or tonumber(ARGV[6]), now + ttl)
    end
  end
  state = 0
end
local total = -1
if h then total = ledger_add(h, delta + ledger_sweep(h, due, now)) end
return {state, total}
