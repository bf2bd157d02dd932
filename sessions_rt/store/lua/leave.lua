-- ARGV[4] rider, [5] reason
-- Returns {'not_member'} | {'left', event} | {'closed', event} (the last member left).
if not is_live_member(ARGV[4]) then return {'not_member'} end
local event = remove_member(ARGV[4], ARGV[5])
if redis.call('ZCARD', MEMBERS) == 0 then
  delete_room()
  return {'closed', event}
end
touch()
return {'left', event}
