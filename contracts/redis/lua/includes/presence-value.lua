--[[
  A device's value in its identity's presence hash: "<connectionId>|<status>"
  (contracts/wire/presence.ts reads it).
]]
local function presence_value(connection_id, status)
  return connection_id .. '|' .. status
end

local function presence_status(value)
  local _, _, status = string.find(value, '|([a-z]+)$')
  return status
end

local function is_presence_of(value, connection_id)
  return string.sub(value, 1, #connection_id + 1) == connection_id .. '|'
end
