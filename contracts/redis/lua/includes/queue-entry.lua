--[[
  Queue entries: "SEQ:EXPIRES_MS:BYTES:KIND BODY" (contracts/wire/queue-entry.ts reads them;
  KIND BODY is stored as the relay wrote it). Scripts read the fields they need with one
  pattern match and never decode the body.
]]
local function queue_entry(seq, expires_at, bytes, stored)
  return seq .. ':' .. expires_at .. ':' .. bytes .. ':' .. stored
end

local function entry_expiry_and_bytes(entry)
  local _, _, expires_at, bytes = string.find(entry, '^%d+:(%d+):(%d+):')
  return tonumber(expires_at), tonumber(bytes)
end

local function entry_bytes(entry)
  local _, _, bytes = string.find(entry, '^%d+:%d+:(%d+):')
  return tonumber(bytes)
end
