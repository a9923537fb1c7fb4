--[[
  Queue entries: "SEQ:EXPIRES_MS:BYTES:KIND…" (contracts/wire/queue-entry.ts reads them).
  BYTES is what the entry is charged against its queue's byte bound. KIND and what follows it
  are stored as the relay wrote them:

    i<sender> <body>                 the message JSON with its data inline
    p<sender> <psize> <ref>\n<body>  a payload stored apart (reference counted), psize its charge
    I<body>, R<ref>\n<body>          the same, from relays that kept no per-sender counts or
                                     payload references (read and removed the same way)

  <sender> is the sending identity: per-sender counts let one recipient's queue bound each
  sender's share. Scripts read the header with one pattern match and never decode the body.
]]
-- Numbers become text by string.format('%d'): Lua's own conversion (a concatenation, or a
-- number handed to redis.call) goes through '%.14g', several times dearer for a timestamp.
local function queue_entry(seq, expires_at, bytes, stored)
  return string.format('%d:', seq) .. expires_at .. ':' .. bytes .. ':' .. stored
end

local function entry_expiry_and_bytes(entry)
  local _, _, expires_at, bytes = string.find(entry, '^%d+:(%d+):(%d+):')
  return tonumber(expires_at), tonumber(bytes)
end

local function entry_bytes(entry)
  local _, _, bytes = string.find(entry, '^%d+:%d+:(%d+):')
  return tonumber(bytes)
end

-- The message's createdAt (ms), read from the start of its JSON.
local function entry_created_at(entry)
  local _, _, created = string.find(entry, '"createdAt":(%d+)')
  return tonumber(created)
end

--[[
  What removing entries gives back, summed over entries: bytes, payload charges (psize),
  entries and bytes per sender, references per stored payload.
]]
local function new_removed()
  return {count = 0, bytes = 0, pbytes = 0, senders = {}, refs = {}}
end

-- Reads the header and the sender only: the body is neither scanned nor copied.
local function note_removed(acc, entry)
  local _, at, bytes, kind = string.find(entry, '^%d+:%d+:(%d+):(.)')
  bytes = tonumber(bytes)
  acc.count = acc.count + 1
  acc.bytes = acc.bytes + bytes
  if kind == 'i' or kind == 'p' then
    local _, space, sender = string.find(entry, '^([^ \n]*) ', at + 1)
    local s = acc.senders[sender]
    if not s then
      s = {0, 0}
      acc.senders[sender] = s
    end
    s[1] = s[1] + 1
    s[2] = s[2] + bytes
    if kind == 'p' then
      local _, _, psize, ref = string.find(entry, '^(%d+) ([^\n]+)', space + 1)
      acc.pbytes = acc.pbytes + tonumber(psize)
      acc.refs[ref] = (acc.refs[ref] or 0) + 1
    end
  end
end

-- A sender's share of a queue, kept in its metadata as field "s:<sender>" = "count:bytes".
local function share_of(value)
  if not value then return 0, 0 end
  local _, _, count, bytes = string.find(value, '^(%d+):(%d+)$')
  return tonumber(count), tonumber(bytes)
end

-- Takes the removed entries off their senders' shares in the queue's metadata.
local function apply_removed_senders(m, acc)
  for sender, s in pairs(acc.senders) do
    local field = 's:' .. sender
    local count, bytes = share_of(redis.call('HGET', m, field))
    count, bytes = count - s[1], bytes - s[2]
    if count <= 0 then
      redis.call('HDEL', m, field)
    else
      redis.call('HSET', m, field, string.format('%d:%d', count, bytes))
    end
  end
end

-- The same once the queue is empty: every sender's share is then nothing, so it is not read.
local function clear_removed_senders(m, acc)
  for sender in pairs(acc.senders) do redis.call('HDEL', m, 's:' .. sender) end
end

-- Appends "ref, count" for each payload reference removed, for the relay to release.
local function append_refs(out, acc)
  for ref, n in pairs(acc.refs) do
    out[#out + 1] = ref
    out[#out + 1] = n
  end
end
