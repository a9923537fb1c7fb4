--[[
  Messages on a device's channel (contracts/wire/device-channel.ts reads them): the wake-up
  "m<seq> <epoch>", followed by a newline and the entry when it carries one, and the claim
  "c<ordinal> <connectionId>" of the device's newest connection (claim.lua).
]]
local function wake_message(seq, epoch, entry)
  if entry then return string.format('m%d %s\n%s', seq, epoch, entry) end
  return string.format('m%d %s', seq, epoch)
end

local function claim_message(ordinal, connection_id)
  return 'c' .. ordinal .. ' ' .. connection_id
end
