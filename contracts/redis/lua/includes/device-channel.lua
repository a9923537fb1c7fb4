--[[
  Messages on a device's channel (contracts/wire/device-channel.ts reads them): the wake-up
  "m<seq> <epoch>", followed by a newline and the entry when it carries one, and the claim
  "c<ordinal> <connectionId>" of the device's newest connection (claim.lua).
]]
local function wake_message(seq, epoch, entry)
  local wake = 'm' .. seq .. ' ' .. epoch
  if entry then wake = wake .. '\n' .. entry end
  return wake
end

local function claim_message(ordinal, connection_id)
  return 'c' .. ordinal .. ' ' .. connection_id
end
