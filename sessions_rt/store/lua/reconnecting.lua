-- ARGV[5] rider, [6] the radius (km) within which riders are the dropped one's neighbours,
-- [7] the channel of the socket that dropped ('' for none)
-- Returns {'not_member'} | {'superseded'} (another socket of the rider opened since) |
-- {'ok', event or ''} ('' when already reconnecting).
local rider = ARGV[5]
if not is_live_member(rider) then return {'not_member'} end
if not is_current_channel(rider, ARGV[7]) then return {'superseded'} end
-- last_seen is left alone: it is when the phone was last heard from.
if redis.call('ZADD', RECONNECTING, 'NX', now, rider) == 0 then
  touch()
  return {'ok', ''}
end
record_drop(rider, ARGV[6])
local presence = read_presence(rider)
local previous = presence.status
presence.resume_status = previous
presence.status = 'reconnecting'
redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
local event = emit('presence_changed', rider, presence_payload(presence, previous))
touch()
return {'ok', event}
