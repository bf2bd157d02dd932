-- ARGV[5] rider, [6] longitude, [7] latitude, [8] details JSON, [9] a pub/sub channel or ''
-- and [10] the message to publish on it once the position is stored, [11] the trail's sample
-- interval and [12] how long it keeps points (ms).
-- Returns {'not_member'} | {'ok'} | {'paused'}. Positions are not logged as events: the latest
-- one is in every snapshot, and at one fix a second they would push membership changes out
-- of the log. A rider who paused sharing (location_sharing.lua) has the position dropped,
-- neither stored nor published; the message still tells us the phone is there.
local rider = ARGV[5]
if not is_live_member(rider) then return {'not_member'} end
if read_presence(rider).location_paused then
  touch_seen(mark_seen(rider) and {LAST_SEEN} or {})
  return {'paused'}
end
local added = {}
if redis.call('GEOADD', LOCATIONS, ARGV[6], ARGV[7], rider) == 1 then
  table.insert(added, LOCATIONS)
end
if redis.call('HSET', LOCATION_DETAILS, rider, ARGV[8]) == 1 then
  table.insert(added, LOCATION_DETAILS)
end
if mark_seen(rider) then table.insert(added, LAST_SEEN) end
for _, key in ipairs(sample_trail(rider, cjson.decode(ARGV[8]), tonumber(ARGV[11]), tonumber(ARGV[12]))) do
  table.insert(added, key)
end
touch_seen(added)
if ARGV[9] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[10]) end
return {'ok'}
