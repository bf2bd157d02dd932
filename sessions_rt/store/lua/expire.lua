-- ARGV[5] presence cutoff (ms), [6] reconnect grace cutoff (ms), [7] trails not written since
-- this are trimmed, [8] to this, [9] drops of riders back before this are forgotten.
-- Takes out members not heard from since the presence cutoff, or reconnecting since before the
-- grace cutoff, with member_left (timed_out). The check runs here, atomically, so a heartbeat
-- that lands just before is never overruled by a stale list.
-- Returns {'gone'} (no such room) | {'kept' or 'closed', {events}}.
if not room_exists() then return {'gone'} end
local expired, seen = {}, {}
local function collect(riders)
  for _, rider in ipairs(riders) do
    if not seen[rider] then
      seen[rider] = true
      table.insert(expired, rider)
    end
  end
end
collect(redis.call('ZRANGEBYSCORE', LAST_SEEN, '-inf', ARGV[5]))
collect(redis.call('ZRANGEBYSCORE', RECONNECTING, '-inf', ARGV[6]))

trim_stale_trails(ARGV[7], tonumber(ARGV[8]))
prune_drops(tonumber(ARGV[9]))

local events = {}
for _, rider in ipairs(expired) do
  local event = remove_member(rider, 'timed_out')
  if event then table.insert(events, event) end
end
if redis.call('ZCARD', MEMBERS) == 0 then
  delete_room()
  return {'closed', events}
end
if #events > 0 then
  -- Removals are not rider activity: the room's TTL is not extended, but the member count
  -- must follow, and a key created just now must not be left without a TTL.
  redis.call('HSET', SESSION, 'member_count', redis.call('ZCARD', MEMBERS))
  for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, room_ttl_ms) end
  end
end
return {'kept', events}
