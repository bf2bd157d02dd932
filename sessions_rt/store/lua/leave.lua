-- ARGV[5] rider, [6] reason
-- Returns {'not_member'} | {'left', event} | {'closed', event} (the last member left).
if not is_live_member(ARGV[5]) then return {'not_member'} end
local event = remove_member(ARGV[5], ARGV[6])
if redis.call('ZCARD', MEMBERS) == 0 then
  delete_room()
  return {'closed', event}
end
touch()
return {'left', event}
