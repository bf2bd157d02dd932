-- ARGV[5] rider, [6] '1' to pause sharing the rider's position, '0' to share it again.
-- Returns {'not_member'} | {'ok', event or ''} ('' when it was already so).
-- Paused, the rider's position leaves the room's live state at once (the GEO set and its
-- details), so no snapshot, presence answer, nearby or behind has it; location.lua keeps
-- none until the rider shares again, from their next position. The pause is part of the
-- rider's presence record: it lasts through a reconnect within the grace period and ends
-- with their live membership.
local rider, paused = ARGV[5], ARGV[6] == '1'
if not is_live_member(rider) then return {'not_member'} end
mark_seen(rider)
local presence = read_presence(rider)
if paused then forget_position(rider) end
local event = ''
if (presence.location_paused == true) ~= paused then
  presence.location_paused = paused or nil
  redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
  event = emit('location_sharing_changed', rider, {location_paused = paused})
end
touch()
return {'ok', event}
