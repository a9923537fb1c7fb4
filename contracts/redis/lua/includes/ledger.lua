--[[
  A domain's storage ledger (contracts/redis/keys.ts directoryKeys: storage, storageDue): what
  every device's queue and every stored payload of the domain holds, in bytes, and their sum.

    storage     HASH  total → the sum; member → "version:bytes:deadline"
    storageDue  ZSET  member → deadline (ms): when the member's keys expire at the latest

  Members are `d:<device>` (queued entries without the shared payloads, plus de-duplication
  records) and `p:<sender>:<message id>` (a payload stored apart). Each is written as an
  absolute, versioned value: an older version never overwrites a newer one, so updates applied
  late or twice (a Redis Cluster, where the relay applies them after the device's script) do
  no harm, and a lost one is corrected by the member's next update. A member whose deadline
  passed (its keys expired in Redis) is taken off the total by the next sweep.
]]
local function ledger_get(h, member)
  local value = redis.call('HGET', h, member)
  if not value then return nil end
  local _, _, version, bytes, deadline = string.find(value, '^(%d+):(%d+):(%d+)$')
  return tonumber(version), tonumber(bytes), tonumber(deadline)
end

-- Returns how much the total must change. `known`: {ledger_get(h, member)}, already read.
local function ledger_put(h, due, member, version, bytes, deadline, known)
  local old_version, old_bytes, old_deadline
  if known then
    old_version, old_bytes, old_deadline = known[1], known[2], known[3]
  else
    old_version, old_bytes, old_deadline = ledger_get(h, member)
  end
  if old_version and old_version > version then return 0 end
  old_bytes = old_bytes or 0
  if bytes <= 0 then
    if old_version then
      redis.call('HDEL', h, member)
      redis.call('ZREM', due, member)
    end
    return -old_bytes
  end
  -- The deadline only ever moves later (a key's expiry is refreshed, never shortened).
  if old_deadline and old_deadline > deadline then deadline = old_deadline end
  if bytes ~= old_bytes or deadline ~= old_deadline or version ~= old_version then
    redis.call('HSET', h, member,
      string.format('%d:%d:%d', version, bytes, deadline))
  end
  if deadline ~= old_deadline then redis.call('ZADD', due, string.format('%d', deadline), member) end
  return bytes - old_bytes
end

-- Takes members whose keys expired off the total (a few per call); returns the change.
local function ledger_sweep(h, due, now)
  local gone = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, 16)
  local delta = 0
  for _, member in ipairs(gone) do
    local _, bytes = ledger_get(h, member)
    if bytes then
      delta = delta - bytes
      redis.call('HDEL', h, member)
    end
    redis.call('ZREM', due, member)
  end
  return delta
end

local function ledger_total(h)
  return tonumber(redis.call('HGET', h, 'total')) or 0
end

local function ledger_add(h, delta)
  if delta ~= 0 then return redis.call('HINCRBY', h, 'total', delta) end
  return ledger_total(h)
end

-- The deadline of a device's charge: when its queue or its de-duplication records expire.
local function charge_deadline(now, q_ttl, ids_ttl)
  local ttl = math.max(q_ttl, ids_ttl, 0)
  return now + ttl
end
