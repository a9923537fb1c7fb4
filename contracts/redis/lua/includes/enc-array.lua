--[[
  JSON of a Lua list: cjson encodes an empty table as {}, where the Manager's records want [].
]]
local function enc_array(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end
