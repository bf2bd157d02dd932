-- ARGV[5] rider, [6] reason, [7] the channel of the socket that closed ('' for none: REST)
-- Returns {'not_member'} (not live, or another socket of the rider opened since) |
-- {'left', event} | {'closed', event} (the last member left).
if not is_live_member(ARGV[5]) then return {'not_member'} end
if not is_current_channel(ARGV[5], ARGV[7]) then return {'not_member'} end
local event = remove_member(ARGV[5], ARGV[6])
if redis.call('ZCARD', MEMBERS) == 0 then
  delete_room()
  return {'closed', event}
end
touch()
return {'left', event}
