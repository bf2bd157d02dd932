-- ARGV[4] rider. Returns {'not_member'} | {'ok'}.
local rider = ARGV[4]
if not is_live_member(rider) then return {'not_member'} end
mark_seen(rider)
touch_seen({LAST_SEEN})
return {'ok'}
