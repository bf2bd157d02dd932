-- ARGV[4] rider, [5] longitude, [6] latitude, [7] details JSON, [8] a pub/sub channel or ''
-- and [9] the message to publish on it once the position is stored.
-- Returns {'not_member'} | {'ok'}. Positions are not logged as events: the latest one is in
-- every snapshot, and at one fix a second they would push membership changes out of the log.
local rider = ARGV[4]
if not is_live_member(rider) then return {'not_member'} end
local added = {}
if redis.call('GEOADD', LOCATIONS, ARGV[5], ARGV[6], rider) == 1 then
  table.insert(added, LOCATIONS)
end
if redis.call('HSET', LOCATION_DETAILS, rider, ARGV[7]) == 1 then
  table.insert(added, LOCATION_DETAILS)
end
if mark_seen(rider) then table.insert(added, LAST_SEEN) end
touch_seen(added)
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
return {'ok'}
