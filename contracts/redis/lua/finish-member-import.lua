--[[
  Ends an all-or-nothing member import: 'commit' forgets its journal (the import is whole)
  and tells the relays; 'release' only frees the guard (after a rollback emptied the journal,
  or leaving a journal that a later import or Manager start must still undo), telling the
  relays when ARGV[4] is '1'.

  KEYS[1] importGuard, KEYS[2] importJournal (contracts/redis/keys.ts managerKeys)
  ARGV[1] the import's guard token
  ARGV[2] the directory channel
  ARGV[3] 'commit' or 'release'
  ARGV[4] '1': publish a directory change

  Returns {'OK'}, or {'LOST'} when the guard is not the import's (a commit then did nothing:
  the import may have been undone).
]]
--- @include "directory-channel"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'LOST'} end
if ARGV[3] == 'commit' then redis.call('UNLINK', KEYS[2]) end
redis.call('DEL', KEYS[1])
if ARGV[3] == 'commit' or ARGV[4] == '1' then publish_directory_changed(ARGV[2]) end
return {'OK'}
