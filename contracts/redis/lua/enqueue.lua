--[[
  Queues messages for devices of domains and wakes each device. One call takes a batch of
  items (the relay's group commit: every enqueue that arrived while its previous call was in
  flight), each handled exactly as if it were a call of its own, in order, with its own
  result: an idempotent insert (a de-duplication record seen within its window queues
  nothing), then the bounds (each sender's share of the queue, the domain's storage quota, the
  queue's length and bytes), then a wake-up on the device's channel. On a standalone Redis one
  item serves many devices and keeps the domain's storage ledger in the same call; on Redis
  Cluster every key of a call must share a slot, so an item is one device, the items of a call
  are devices of one slot, and the relay applies the ledger changes this returns.

  ARGV[1]  the number of items; then per item, from its offset A (A = 1 for the first):
  ARGV[A + 1]  n, its devices
  ARGV[A + 2]  '1': the item's KEYS end with its domain's ledger (standalone), '0': they do not
  ARGV[A + 2 + i], i = 1..19, the message (below as "arg i"):
    1  now (ms)
    2  de-duplication member (sender device|message id)
    3  expiresAt (ms)
    4  the stored message: KIND and what follows (contracts/wire/queue-entry.ts)
    5  cost: what the entry is charged against the queue's byte bound (with psize)
    6  maxCount: entries a queue may hold
    7  maxBytes: bytes a queue may hold (entries and de-duplication records)
    8  keyTtlMs: expiry of the device's meta and queue
    9  newEpoch: the epoch of a queue this call creates
    10 dedupUntil (ms): until when the de-duplication record is kept (its window)
    11 the charge of a de-duplication record beyond its member's length
    12 the sending identity ('' for none: no per-sender share)
    13 the most entries, 14 the most bytes one sender may hold in a queue (-1: no bound beyond
       the queue's own)
    15 '1': refuse a message the queue has no room for (rejectNew) rather than drop the oldest
    16 psize: the charge of the payload stored apart (0 when inline), part of the cost
    17 the domain's storage quota in bytes (ignored without the ledger keys)
    18 idsTtlMs: expiry of the de-duplication records' key
    19 the de-duplication window (ms)
  then 2n: the channel and the ledger member (d:<device>) of each device; the next item
  follows. KEYS per item: three per device, meta, queue, ids (contracts/redis/keys.ts
  deviceKeys); then, with the ledger, the domain's storage, storageDue (includes/ledger.lua).

  Returns one result per item: {total, result of device 1, …}, or {'!', message} when the item
  raised an error (the other items are not affected, as separate calls would not be). total is
  the domain's ledger total after the item (-1 without the ledger keys); each device's result
  is {status, seq, receivers, expired, dropped, version, charge, deadline, ref, n, ref, n…}:
  status 1 queued, 0 duplicate, 2 full (rejectNew), 3 the sender holds its whole share, 4 over
  the domain's quota (nothing queued for 0, 2, 3, 4); receivers > 0 means the device is
  online; version, charge and deadline are the device's ledger entry; each ref, n is a stored
  payload that n removed entries referenced.
]]
--- @include "queue-entry"
--- @include "trim-expired"
--- @include "device-channel"
--- @include "ledger-batch"

-- A wake-up carries an entry of at most this size, so the relay holding the socket can
-- write it without reading it back.
local WAKE_ENTRY_MAX = 16384
local FIXED = 19

-- The items of a batch mostly repeat their bounds: each text is converted once per call.
local numbers = {}
local function num(text)
  local n = numbers[text]
  if n == nil then
    n = tonumber(text)
    numbers[text] = n
  end
  return n
end

-- Refreshes a key's expiry only when it fell well below the target (a PTTL read costs less
-- than a PEXPIRE write, which also lands in the AOF); returns the key's time to live.
local function keep(key, ttl, left)
  left = left or redis.call('PTTL', key)
  if left < ttl - 1800000 then
    redis.call('PEXPIRE', key, string.format('%d', ttl))
    return ttl
  end
  return left
end

-- One item: KEYS from K + 1, its header from ARGV[A + 1], its message from ARGV[B + 1].
local function enqueue_message(K, A, devices, withLedger)
  local B = A + 2
  local nowText = ARGV[B + 1]
  local now = tonumber(nowText)
  local member = ARGV[B + 2]
  local costText = ARGV[B + 5]
  local cost = num(costText)
  local maxCount, maxBytes = num(ARGV[B + 6]), num(ARGV[B + 7])
  local keyTtl = num(ARGV[B + 8])
  local recordOverhead = num(ARGV[B + 11])
  local recordCost = #member + recordOverhead
  local sender = ARGV[B + 12]
  local sField = 's:' .. sender
  local shareCount, shareBytes = num(ARGV[B + 13]), num(ARGV[B + 14])
  local rejectNew = ARGV[B + 15] == '1'
  local psize = num(ARGV[B + 16])
  local domainMax = num(ARGV[B + 17])
  local idsTtl = num(ARGV[B + 18])
  local windowMs = num(ARGV[B + 19])
  local h, due
  if withLedger then h, due = KEYS[K + 3 * devices + 1], KEYS[K + 3 * devices + 2] end
  local total = -1
  local totalDelta = 0
  local view = nil
  if h then
    view = ledger_batch_of(h, due, now)
    total = view.total
  end

  local function enqueue_one(m, q, ids, channel, ledgerMember)
    -- The epoch is read here too, for the wake-up: a separate HGET per message cost a command.
    local meta = redis.call('HMGET', m, 'head', 'next', 'bytes', 'ibytes', 'pbytes', 'v', sField, 'epoch')
    local epoch = meta[8]
    local head, nxt = tonumber(meta[1]), tonumber(meta[2])
    local bytes, ibytes, pbytes = tonumber(meta[3]) or 0, tonumber(meta[4]) or 0, tonumber(meta[5]) or 0
    local version = math.max((tonumber(meta[6]) or 0) + 1, now)
    local senderCount, senderBytes = share_of(meta[7])

    -- De-duplication records past their window go first.
    local stale = redis.call('ZRANGEBYSCORE', ids, '-inf', nowText)
    if #stale > 0 then
      for _, record in ipairs(stale) do ibytes = ibytes - #record - recordOverhead end
      redis.call('ZREMRANGEBYSCORE', ids, '-inf', nowText)
    end
    local duplicate = redis.call('ZSCORE', ids, member)
    -- The records' key expired (idsTtlMs after the last enqueue): nothing left to charge.
    local idsLeft = redis.call('PTTL', ids)
    if idsLeft == -2 then ibytes = 0 end

    local status = 1
    local removed = new_removed()
    local expired, dropped = 0, 0
    if not head then
      if duplicate then
        return {0, 0, 0, 0, 0, version, 0, now}
      end
      epoch = ARGV[B + 9]
      redis.call('HSET', m, 'epoch', epoch, 'head', 1, 'next', 1, 'bytes', 0, 'drops', 0)
      redis.call('DEL', q)
      head, nxt, bytes, pbytes = 1, 1, 0, 0
    end
    head, expired = trim_expired(q, head, nxt, now, removed)

    local mine = removed.senders[sender]
    if mine then
      senderCount, senderBytes = senderCount - mine[1], senderBytes - mine[2]
    end
    local used = bytes - removed.bytes
    pbytes = pbytes - removed.pbytes

    if duplicate then
      status = 0
    elseif sender ~= '' and shareCount >= 0 and senderCount > 0 and
        (senderCount + 1 > shareCount or senderBytes + cost > shareBytes) then
      -- The sender's first message always fits: a share never refuses everything.
      status = 3
    end
    local recorded = nil
    if h then recorded = {ledger_get(h, ledgerMember)} end
    if status == 1 and h and domainMax >= 0 then
      local projected = total - (recorded[2] or 0) + (used - pbytes + ibytes) + (cost - psize + recordCost)
      if projected > domainMax then status = 4 end
    end

    if status == 1 then
      -- Over the byte bound: forget de-duplication records of messages no longer queued first,
      -- oldest first (a message sent before the oldest queued one was acknowledged or dropped).
      local evicted = 0
      while used + ibytes + cost + recordCost > maxBytes and evicted < 1000 do
        local oldest = redis.call('ZRANGE', ids, 0, 0, 'WITHSCORES')
        if #oldest == 0 then break end
        if nxt > head then
          local created = entry_created_at(redis.call('LINDEX', q, 0))
          if created and tonumber(oldest[2]) - windowMs >= created then break end
        end
        redis.call('ZREM', ids, oldest[1])
        ibytes = ibytes - #oldest[1] - recordOverhead
        evicted = evicted + 1
      end
      -- A message always fits an empty queue.
      if nxt > head and
          ((nxt - head + 1) > maxCount or (used + ibytes + cost + recordCost) > maxBytes) then
        if rejectNew then
          status = 2
        else
          local drop = new_removed()
          while nxt > head and
              ((nxt - head + 1) > maxCount or (used + ibytes + cost + recordCost) > maxBytes) do
            local first = redis.call('LPOP', q)
            if not first then
              -- The list is gone under its metadata: start the seqs over from here.
              head = nxt
              used, pbytes = 0, 0
              break
            end
            note_removed(drop, first)
            head = head + 1
            used = used - drop.bytes
            pbytes = pbytes - drop.pbytes
            dropped = dropped + 1
            -- Sum into `removed` one entry at a time (drop holds just this one).
            removed.count = removed.count + 1
            removed.bytes = removed.bytes + drop.bytes
            for s, c in pairs(drop.senders) do
              local r = removed.senders[s]
              if not r then
                r = {0, 0}
                removed.senders[s] = r
              end
              r[1], r[2] = r[1] + c[1], r[2] + c[2]
              if s == sender then senderCount, senderBytes = senderCount - c[1], senderBytes - c[2] end
            end
            for ref, n in pairs(drop.refs) do removed.refs[ref] = (removed.refs[ref] or 0) + n end
            drop = new_removed()
          end
        end
      end
    end
    -- The sender's own share is written below with the metadata; the others' here.
    local mineRemoved = removed.senders[sender]
    removed.senders[sender] = nil
    if removed.count > 0 then apply_removed_senders(m, removed) end
    removed.senders[sender] = mineRemoved

    local seq, receivers = 0, 0
    local entry
    if status == 1 then
      seq = nxt
      entry = queue_entry(seq, ARGV[B + 3], costText, ARGV[B + 4])
      redis.call('RPUSH', q, entry)
      nxt = seq + 1
      used = used + cost
      pbytes = pbytes + psize
      ibytes = ibytes + recordCost
      redis.call('ZADD', ids, ARGV[B + 10], member)
      if sender ~= '' then senderCount, senderBytes = senderCount + 1, senderBytes + cost end
    end
    local v = nowText
    if version ~= now then v = string.format('%d', version) end
    if sender ~= '' and senderCount > 0 then
      redis.call('HSET', m, 'head', head, 'next', nxt, 'bytes', used, 'ibytes', ibytes,
        'pbytes', pbytes, 'v', v, sField, string.format('%d:%d', senderCount, senderBytes))
    else
      if sender ~= '' and meta[7] then redis.call('HDEL', m, sField) end
      redis.call('HSET', m, 'head', head, 'next', nxt, 'bytes', used, 'ibytes', ibytes,
        'pbytes', pbytes, 'v', v)
    end
    if dropped + expired > 0 then redis.call('HINCRBY', m, 'drops', dropped + expired) end
    -- Each key is checked on its own, since an emptied list is recreated by RPUSH without any
    -- expiry. An empty queue's metadata keeps no expiry (ack.lua): nor is one given here.
    -- When this item's entry is the only one, the queue was empty before it: RPUSH made the
    -- list anew and ack.lua took the metadata's expiry away, so neither has one to read (a PTTL
    -- of each saved in the common case of a device that keeps up); were one left anyway, the
    -- PEXPIRE only sets it to the full TTL, as any enqueue may.
    local qTtl = -2
    if nxt > head then
      local fresh = nil
      if status == 1 and nxt - head == 1 then fresh = -1 end
      keep(m, keyTtl, fresh)
      qTtl = keep(q, keyTtl, fresh)
    end
    if ibytes > 0 then
      -- ZADD on a missing key made it anew, without expiry.
      if status == 1 and idsLeft < 0 then idsLeft = -1 end
      idsLeft = keep(ids, idsTtl, idsLeft)
    else
      idsLeft = -2
    end

    if status == 1 then
      -- Not when this enqueue dropped entries: the relay must then read the queue, which tells
      -- it (and so the device) about the drops.
      local carried = nil
      if #entry <= WAKE_ENTRY_MAX and dropped + expired == 0 then carried = entry end
      local wake = wake_message(seq, epoch, carried)
      receivers = redis.call('SPUBLISH', channel, wake)
    end

    local charge = used - pbytes + ibytes
    local deadline = charge_deadline(now, qTtl, idsLeft)
    if h then
      local delta = ledger_put(h, due, ledgerMember, version, charge, deadline, recorded)
      totalDelta = totalDelta + delta
      total = total + delta
    end
    local result = {status, seq, receivers, expired, dropped, version, charge, deadline}
    append_refs(result, removed)
    return result
  end

  local results = {0}
  for i = 1, devices do
    results[i + 1] = enqueue_one(KEYS[K + 3 * i - 2], KEYS[K + 3 * i - 1], KEYS[K + 3 * i],
      ARGV[B + FIXED + 2 * i - 1], ARGV[B + FIXED + 2 * i])
  end
  if view then ledger_batch_add(view, totalDelta) end
  results[1] = total
  return results
end

local items = tonumber(ARGV[1])
local replies = {}
local K, A = 0, 1
for n = 1, items do
  local devices = tonumber(ARGV[A + 1])
  local withLedger = ARGV[A + 2] == '1'
  local ok, reply = pcall(enqueue_message, K, A, devices, withLedger)
  if ok then
    replies[n] = reply
  else
    -- redis.call raises a table {err = …}; a Lua error is a string.
    if type(reply) == 'table' then reply = reply.err end
    replies[n] = {'!', tostring(reply)}
  end
  K = K + 3 * devices + (withLedger and 2 or 0)
  A = A + 2 + FIXED + 2 * devices
end
ledger_batch_flush()
return replies
