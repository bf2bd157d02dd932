-- ARGV[5] rider. Returns {'not_member'} | {'ok'}.
local rider = ARGV[5]
if not is_live_member(rider) then return {'not_member'} end
touch_seen(mark_seen(rider) and {LAST_SEEN} or {})
return {'ok'}
