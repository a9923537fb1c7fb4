/**
 * Lua scripts of the Manager store. Each touches only keys of one domain (hash tag
 * `{dir:DOMAIN}`) or only global ones (`{mgr}`), so it runs atomically in one slot on a
 * Redis Cluster too, and publishes the directory change on the domain's sharded channel in
 * the same step. Every script returns an array whose first element is 'OK' or an error
 * status (NOT_FOUND, ALREADY_EXISTS, CODE_USED…), followed by its values.
 *
 * Records are JSON; Lua's cjson encodes an empty table as `{}`, so arrays go through
 * enc_array.
 */

const common = `
local function enc_array(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end
`;

/**
 * KEYS: members, memberIndex, identities. ARGV: mode ('all' | 'each'), channel, then for
 * each row: id, member JSON, directory identity JSON.
 * 'all': when any id exists, creates nothing and returns {'EXISTS', ids...}. Otherwise (and
 * in 'each' mode) creates every id not taken yet and returns {'OK', created ids...}.
 * Reads and writes go in batches of 1000 (HMGET, variadic HSET and ZADD): a script call
 * costs microseconds each, and a large all-or-nothing import runs as one script.
 */
export const createMembersScript = `
local mode, channel = ARGV[1], ARGV[2]
local n = (#ARGV - 2) / 3
local batch = 1000
local exists = {}
for first = 0, n - 1, batch do
  local ids = {}
  for i = first, math.min(n, first + batch) - 1 do ids[#ids + 1] = ARGV[3 + 3 * i] end
  local found = redis.call('HMGET', KEYS[1], unpack(ids))
  for j = 1, #ids do
    if found[j] then exists[ids[j]] = true end
  end
end
if mode == 'all' then
  local existing = {'EXISTS'}
  for i = 0, n - 1 do
    local id = ARGV[3 + 3 * i]
    if exists[id] then existing[#existing + 1] = id end
  end
  if #existing > 1 then return existing end
end
local created = {'OK'}
local members, index, identities = {}, {}, {}
local function flush()
  if #members == 0 then return end
  redis.call('HSET', KEYS[1], unpack(members))
  redis.call('ZADD', KEYS[2], unpack(index))
  redis.call('HSET', KEYS[3], unpack(identities))
  members, index, identities = {}, {}, {}
end
for i = 0, n - 1 do
  local id = ARGV[3 + 3 * i]
  if not exists[id] then
    exists[id] = true
    members[#members + 1] = id
    members[#members + 1] = ARGV[4 + 3 * i]
    index[#index + 1] = 0
    index[#index + 1] = id
    identities[#identities + 1] = id
    identities[#identities + 1] = ARGV[5 + 3 * i]
    created[#created + 1] = id
    if #members >= 2 * batch then flush() end
  end
end
flush()
if #created > 1 then redis.call('SPUBLISH', channel, 'changed') end
return created
`;

/**
 * KEYS: members, identities. ARGV: channel, id, setName ('1'|'0'), name,
 * emailMode ('keep'|'clear'|'set'), email, updatedAt. Returns {'OK', member JSON}.
 */
export const updateMemberScript = `
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'NOT_FOUND'} end
local m = cjson.decode(raw)
if ARGV[3] == '1' then m.displayName = ARGV[4] end
if ARGV[5] == 'clear' then m.email = nil elseif ARGV[5] == 'set' then m.email = ARGV[6] end
m.updatedAt = ARGV[7]
local out = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[2], out)
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({displayName = m.displayName}))
redis.call('SPUBLISH', ARGV[1], 'changed')
return {'OK', out}
`;

/**
 * KEYS: members, memberIndex, identities, devices, memberDevices, directory devices,
 * workspaces, directory workspaces, codes. ARGV: channel, id, now (ISO).
 * Removes the member and its codes, marks its devices revoked (the records stay, out of the
 * directory), takes it out of every workspace. Returns {'OK', newly revoked device ids...}.
 */
export const deleteMemberScript = `${common}
local channel, id, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
local result = {'OK'}
local list = redis.call('HGET', KEYS[5], id)
if list then
  for _, dev in ipairs(cjson.decode(list)) do
    local raw = redis.call('HGET', KEYS[4], dev)
    if raw then
      local d = cjson.decode(raw)
      if not d.revokedAt then
        d.revokedAt = now
        redis.call('HSET', KEYS[4], dev, cjson.encode(d))
        result[#result + 1] = dev
      end
    end
    redis.call('HDEL', KEYS[6], dev)
  end
  redis.call('HDEL', KEYS[5], id)
end
local ws = redis.call('HGETALL', KEYS[8])
for i = 1, #ws, 2 do
  local kept, found = {}, false
  for _, m in ipairs(cjson.decode(ws[i + 1])) do
    if m == id then found = true else kept[#kept + 1] = m end
  end
  if found then
    redis.call('HSET', KEYS[8], ws[i], enc_array(kept))
    local meta = redis.call('HGET', KEYS[7], ws[i])
    if meta then
      local w = cjson.decode(meta)
      w.updatedAt = now
      redis.call('HSET', KEYS[7], ws[i], cjson.encode(w))
    end
  end
end
local codes = redis.call('HGETALL', KEYS[9])
for i = 1, #codes, 2 do
  if cjson.decode(codes[i + 1]).memberId == id then redis.call('HDEL', KEYS[9], codes[i]) end
end
for i = 2, #result do redis.call('SPUBLISH', channel, 'revoke:' .. result[i]) end
redis.call('SPUBLISH', channel, 'changed')
return result
`;

/**
 * KEYS: members, codes. ARGV: memberId, codeId, code JSON.
 * {'NOT_FOUND'} without the member, {'COLLISION'} when the code id is taken (issue another).
 */
export const issueCodeScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'NOT_FOUND'} end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return {'COLLISION'} end
return {'OK'}
`;

/**
 * KEYS: codes. ARGV: codeId, now (ISO). Revoked stays revoked; a used code cannot be
 * revoked ({'CODE_USED'}). Returns {'OK', code JSON}.
 */
export const revokeCodeScript = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'NOT_FOUND'} end
local c = cjson.decode(raw)
if c.revokedAt then return {'OK', raw} end
if c.usedAt then return {'CODE_USED', raw} end
c.revokedAt = ARGV[2]
raw = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return {'OK', raw}
`;

/**
 * KEYS: codes, members, devices, memberDevices, directory devices.
 * ARGV: channel, codeId, code hash, now (ms), now (ISO), deviceId, device JSON (no memberId).
 * Checks and spends the code and enrolls the device in one step: two concurrent
 * redemptions cannot both pass. Returns {'OK', member JSON, device JSON}.
 */
export const redeemCodeScript = `
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'CODE_INVALID'} end
local c = cjson.decode(raw)
if c.hash ~= ARGV[3] then return {'CODE_INVALID'} end
if c.revokedAt then return {'CODE_REVOKED'} end
if c.usedAt then return {'CODE_USED'} end
if tonumber(c.expiresMs) <= tonumber(ARGV[4]) then return {'CODE_EXPIRED'} end
local member = redis.call('HGET', KEYS[2], c.memberId)
if not member then return {'CODE_INVALID'} end
if redis.call('HEXISTS', KEYS[3], ARGV[6]) == 1 then return {'CONFLICT'} end
c.usedAt = ARGV[5]
c.usedByDevice = ARGV[6]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(c))
local d = cjson.decode(ARGV[7])
d.memberId = c.memberId
local device = cjson.encode(d)
redis.call('HSET', KEYS[3], ARGV[6], device)
local list = redis.call('HGET', KEYS[4], c.memberId)
local devs = {}
if list then devs = cjson.decode(list) end
devs[#devs + 1] = ARGV[6]
redis.call('HSET', KEYS[4], c.memberId, cjson.encode(devs))
redis.call('HSET', KEYS[5], ARGV[6], c.memberId)
redis.call('SPUBLISH', ARGV[1], 'changed')
return {'OK', member, device}
`;

/**
 * KEYS: devices, directory devices. ARGV: channel, deviceId, now (ISO).
 * Marks the device revoked (once), removes it from the directory and publishes
 * `revoke:<id>`. Returns {'OK', device JSON}.
 */
export const revokeDeviceScript = `
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {'NOT_FOUND'} end
local d = cjson.decode(raw)
if not d.revokedAt then
  d.revokedAt = ARGV[3]
  raw = cjson.encode(d)
  redis.call('HSET', KEYS[1], ARGV[2], raw)
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('SPUBLISH', ARGV[1], 'revoke:' .. ARGV[2])
return {'OK', raw}
`;

/** KEYS: devices, lastSeen. ARGV: deviceId, now (ISO). Only for devices that exist. */
export const touchDeviceScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'NOT_FOUND'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'OK'}
`;

/**
 * KEYS: workspaces, directory workspaces, members. ARGV: channel, id, meta JSON, members
 * JSON, member ids... Returns {'ALREADY_EXISTS'}, {'NOT_FOUND', unknown members...} or {'OK'}.
 */
export const createWorkspaceScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {'ALREADY_EXISTS'} end
local missing = {'NOT_FOUND'}
for i = 5, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 1 then return missing end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('SPUBLISH', ARGV[1], 'changed')
return {'OK'}
`;

/**
 * KEYS: workspaces, directory workspaces, members. ARGV: channel, id, now (ISO),
 * op ('add'|'remove'|'rename'), then member ids (add, remove) or the new name (rename).
 * Returns {'OK', meta JSON, members JSON}; {'NOT_FOUND'} without the workspace,
 * {'UNKNOWN_MEMBERS', ids...} when adding non-members, {'NOT_A_MEMBER'} when removing one.
 */
export const changeWorkspaceScript = `${common}
local channel, id, now, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta = redis.call('HGET', KEYS[1], id)
if not meta then return {'NOT_FOUND'} end
local w = cjson.decode(meta)
local current = redis.call('HGET', KEYS[2], id)
local list = {}
if current then list = cjson.decode(current) end
if op == 'rename' then
  w.name = ARGV[5]
elseif op == 'add' then
  local missing = {'UNKNOWN_MEMBERS'}
  for i = 5, #ARGV do
    if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
  end
  if #missing > 1 then return missing end
  local seen = {}
  for _, m in ipairs(list) do seen[m] = true end
  for i = 5, #ARGV do
    if not seen[ARGV[i]] then
      seen[ARGV[i]] = true
      list[#list + 1] = ARGV[i]
    end
  end
  table.sort(list)
elseif op == 'remove' then
  local kept, found = {}, false
  for _, m in ipairs(list) do
    if m == ARGV[5] then found = true else kept[#kept + 1] = m end
  end
  if not found then return {'NOT_A_MEMBER'} end
  list = kept
end
w.updatedAt = now
meta = cjson.encode(w)
local members = enc_array(list)
redis.call('HSET', KEYS[1], id, meta)
if op ~= 'rename' then
  redis.call('HSET', KEYS[2], id, members)
  redis.call('SPUBLISH', channel, 'changed')
end
return {'OK', meta, members}
`;

/** KEYS: workspaces, directory workspaces. ARGV: channel, id. */
export const deleteWorkspaceScript = `
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('SPUBLISH', ARGV[1], 'changed')
return {'OK'}
`;

/**
 * KEYS: adminTokens, adminTokenNames. ARGV: mode ('create'|'replace'), name, hash, info JSON.
 * create: {'ALREADY_EXISTS'} when the name is taken. replace: the name's old token (if any)
 * stops working; keeping the same token is a no-op.
 */
export const putAdminTokenScript = `
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then
  if ARGV[1] == 'create' then return {'ALREADY_EXISTS'} end
  if old == ARGV[3] then return {'OK'} end
  redis.call('HDEL', KEYS[1], old)
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return {'OK'}
`;

/** KEYS: adminTokens, adminTokenNames. ARGV: name. */
export const revokeAdminTokenScript = `
local hash = redis.call('HGET', KEYS[2], ARGV[1])
if not hash then return {'NOT_FOUND'} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], hash)
return {'OK'}
`;

/**
 * KEYS: an audit stream. ARGV: maxLen, time (ms), entry JSON. The stream id takes the
 * entry's time when it can (so time queries are range reads); when that would not be
 * above the stream's last id (clocks of two Managers apart), Redis picks the id.
 */
export const appendAuditScript = `
local ok, id = pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[2] .. '-*', 'e', ARGV[3])
if not ok then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
end
return id
`;
