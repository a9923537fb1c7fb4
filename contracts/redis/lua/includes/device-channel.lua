--[[
  Messages on a device's channel (contracts/wire/device-channel.ts reads them): the wake-up
  "m<seq> <epoch>", followed by a newline and the entry when it carries one, and the claim
  "c<ordinal> <connectionId>" of the device's newest connection (claim.lua).
]]
local function wake_message(seq, epoch, entry)
  -- One concatenation: one string made, and the entry is not handed to string.format ('%s'
  -- of a short string goes through C's sprintf, which would stop at a zero byte).
  if entry then return string.format('m%d ', seq) .. epoch .. '\n' .. entry end
  return string.format('m%d ', seq) .. epoch
end

local function claim_message(ordinal, connection_id)
  return 'c' .. ordinal .. ' ' .. connection_id
end
