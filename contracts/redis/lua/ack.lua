--[[
  Cumulative acks: each removes every entry with seq <= upTo from a device's queue and keeps
  the domain's storage ledger (standalone). One call takes a batch of items (the relay's group
  commit: the acks that arrived while its previous call was in flight), each handled exactly
  as a call of its own, in order, with its own result. On Redis Cluster every key of a call
  shares a slot: the relay groups the items by slot.

  ARGV[1] the number of items; then per item, from its offset A (A = 1 for the first):
  ARGV[A + 1] '1': the item's KEYS end with its domain's ledger (standalone), '0': they do not
  ARGV[A + 2] upTo
  ARGV[A + 3] epoch: the queue the ack belongs to
  ARGV[A + 4] told ('' for none): the drop count the device has provably seen signalled,
              recorded so that a later connection does not signal it again
  ARGV[A + 5] now (ms)
  ARGV[A + 6] the device's ledger member (d:<device>)
  KEYS per item: meta, queue, ids (contracts/redis/keys.ts deviceKeys); then, with the
  ledger, the domain's storage, storageDue (includes/ledger.lua)

  Returns one result per item: {head, version, charge, deadline, total, ref, n, ref, n…} after
  the ack: the device's ledger entry (version 0 when the ack changed nothing), the ledger's
  total (-1 without the ledger keys), and each stored payload that n removed entries
  referenced (for the relay to release); {-1} without metadata, {-2} when the epoch differs
  (the ack belongs to a queue that no longer exists); {'!', message} when the item raised an
  error (the other items are not affected).
]]
--- @include "queue-entry"
--- @include "ledger-batch"

-- One item: KEYS from K + 1, its arguments from ARGV[B + 1].
local function ack_one(K, B, withLedger)
  local m, q, ids = KEYS[K + 1], KEYS[K + 2], KEYS[K + 3]
  local h, due
  if withLedger then h, due = KEYS[K + 4], KEYS[K + 5] end
  local now = tonumber(ARGV[B + 4])
  local meta = redis.call('HMGET', m, 'epoch', 'head', 'next', 'bytes', 'told', 'ibytes', 'pbytes', 'v')
  if not meta[1] then return {-1} end
  if meta[1] ~= ARGV[B + 2] then return {-2} end
  if ARGV[B + 3] ~= '' and tonumber(ARGV[B + 3]) > (tonumber(meta[5]) or 0) then
    redis.call('HSET', m, 'told', ARGV[B + 3])
  end
  local head, nxt = tonumber(meta[2]), tonumber(meta[3])
  local bytes, ibytes, pbytes = tonumber(meta[4]) or 0, tonumber(meta[6]) or 0, tonumber(meta[7]) or 0
  local oldPbytes = pbytes
  local version = math.max((tonumber(meta[8]) or 0) + 1, now)
  local upTo = math.min(tonumber(ARGV[B + 1]), nxt - 1)
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
    changed = true
    -- An empty queue keeps its epoch for good: only a queue left unacked past retention expires.
    if head >= nxt then
      -- Nor does any sender hold a share of it: the shares are deleted unread.
      clear_removed_senders(m, removed)
      redis.call('PERSIST', m)
      bytes, pbytes = 0, 0
    else
      apply_removed_senders(m, removed)
    end
  end
  -- De-duplication records past their window are removed by the next enqueue (or expire
  -- with their key): an ack stays as lean as it can.
  -- ibytes is not written (an ack leaves it as it is), nor pbytes unless it changed; the
  -- version goes as text (the ARGV's own when it is now: see queue_entry on numbers).
  if changed then
    local v = ARGV[B + 4]
    if version ~= now then v = string.format('%d', version) end
    if pbytes ~= oldPbytes then
      redis.call('HSET', m, 'head', head, 'bytes', bytes, 'pbytes', pbytes, 'v', v)
    else
      redis.call('HSET', m, 'head', head, 'bytes', bytes, 'v', v)
    end
  end

  local charge, deadline = 0, 0
  if changed then
    charge = bytes - pbytes + ibytes
    -- An emptied queue charges only its de-duplication records (bytes is 0), so the list's
    -- expiry does not bound the charge and is not read (LPOP removed the list anyway).
    local qTtl = -2
    if head < nxt then qTtl = redis.call('PTTL', q) end
    deadline = charge_deadline(now, qTtl, redis.call('PTTL', ids))
  else
    version = 0
  end
  local total = -1
  if h then
    local view = ledger_batch_of(h, due, now)
    if changed then
      ledger_batch_add(view, ledger_put(h, due, ARGV[B + 5], version, charge, deadline))
    end
    total = view.total
  end
  local result = {head, version, charge, deadline, total}
  append_refs(result, removed)
  return result
end

local items = tonumber(ARGV[1])
local replies = {}
local K, A = 0, 1
for n = 1, items do
  local withLedger = ARGV[A + 1] == '1'
  local ok, reply = pcall(ack_one, K, A + 1, withLedger)
  if ok then
    replies[n] = reply
  else
    -- redis.call raises a table {err = …}; a Lua error is a string.
    if type(reply) == 'table' then reply = reply.err end
    replies[n] = {'!', tostring(reply)}
  end
  K = K + (withLedger and 5 or 3)
  A = A + 6
end
ledger_batch_flush()
return replies
