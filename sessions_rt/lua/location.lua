-- ARGV[4] rider, [5] longitude, [6] latitude, [7] details JSON
-- Returns {'not_member'} | {'ok'}. Positions are not logged as events: the latest one is in
-- every snapshot, and at one fix a second they would push membership changes out of the log.
local rider = ARGV[4]
if not is_live_member(rider) then return {'not_member'} end
redis.call('GEOADD', LOCATIONS, ARGV[5], ARGV[6], rider)
redis.call('HSET', LOCATION_DETAILS, rider, ARGV[7])
mark_seen(rider)
touch_seen({LOCATIONS, LOCATION_DETAILS, LAST_SEEN})
return {'ok'}
