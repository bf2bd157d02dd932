-- ARGV[5] rider, [6] status, [7] battery percentage or '', [8] network type or ''
-- ('' = not sent this time: keep what we had). A value the rider does not share
-- (apply_sharing) is not kept. Returns {'not_member'} | {'ok', event or ''}.
local rider, status, battery, network = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if not is_live_member(rider) then return {'not_member'} end
mark_seen(rider)
-- A message from the phone means its socket is back, whatever we thought.
if redis.call('ZREM', RECONNECTING, rider) == 1 then mark_back(rider) end

local presence = read_presence(rider)
local previous = presence.status
local changed = presence.status ~= status
presence.status = status
presence.resume_status = nil
if battery ~= '' and not presence.hide_battery and presence.battery_pct ~= tonumber(battery) then
  presence.battery_pct = tonumber(battery)
  changed = true
end
if network ~= '' and not presence.hide_network and presence.network_type ~= network then
  presence.network_type = network
  changed = true
end
local event = ''
if changed then
  redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
  event = emit('presence_changed', rider, presence_payload(presence, previous))
end
touch()
return {'ok', event}
