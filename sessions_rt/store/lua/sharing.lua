-- ARGV[5] rider, [6] '1' if the rider no longer shares their battery, [7] the same for the
-- network type. The rider changed what they share while live: a value no longer shared is
-- dropped at once, and the ride gets presence_changed without it.
-- Returns {'not_member'} | {'ok', event or ''} ('' when nothing visible changed).
local rider = ARGV[5]
if not is_live_member(rider) then return {'not_member'} end
local presence = read_presence(rider)
local dropped = apply_sharing(presence, ARGV[6] == '1', ARGV[7] == '1')
redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
local event = ''
if dropped then
  event = emit('presence_changed', rider, presence_payload(presence, presence.status))
end
touch()
return {'ok', event}
