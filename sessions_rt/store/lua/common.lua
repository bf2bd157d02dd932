-- Shared by every script (scripts.py puts it after the locals naming KEYS in RoomKeys order).
-- ARGV[1..4] are always: now (epoch ms, from the caller's clock), the room TTL (ms), how many
-- events the log keeps, and the pub/sub channel of the room's channel-layer group ('' for
-- none). Each script's own arguments start at ARGV[5].
local now = tonumber(ARGV[1])
local room_ttl_ms = tonumber(ARGV[2])
local log_length = tonumber(ARGV[3])
local room_channel = ARGV[4]

local function room_exists()
  return redis.call('EXISTS', SESSION) == 1
end

local function is_member(rider)
  return redis.call('ZSCORE', MEMBERS, rider) ~= false
end

-- A room is live while its session hash exists; members are checked against it too, because
-- keys with the same TTL can still expire a moment apart.
local function is_live_member(rider)
  return room_exists() and is_member(rider)
end

-- Whether ``channel`` (a socket's channel-layer name; '' for a caller that is no socket) may
-- still speak for the rider: a socket the rider has since replaced with another one, on any
-- worker, no longer may. A stopping worker's late disconnect would otherwise mark a rider
-- who is already back on another socket as reconnecting, and the expiry sweep would take them
-- out once the grace period ran out.
local function is_current_channel(rider, channel)
  if channel == nil or channel == '' then return true end
  local record = redis.call('HGET', CONNECTION_SESSIONS, rider)
  if not record then return true end
  local current = cjson.decode(record).channel
  return current == nil or current == cjson.null or current == channel
end

local function or_null(value)
  if value == nil or value == false or value == '' then return cjson.null end
  return value
end

local function role_of(rider)
  local roles = redis.call('HMGET', SESSION, 'leader_id', 'sweep_id')
  if rider == roles[1] then return 'leader' end
  if rider == roles[2] then return 'sweep' end
  return 'rider'
end

local function read_presence(rider)
  return cjson.decode(redis.call('HGET', PRESENCE, rider))
end

local function presence_payload(presence, previous_status)
  return {
    status = presence.status,
    previous_status = or_null(previous_status),
    battery_pct = or_null(presence.battery_pct),
    network_type = or_null(presence.network_type),
  }
end

-- What the rider chose not to share (riders' share_battery and share_network): a value not
-- shared is never kept, so no event, snapshot or REST answer can reveal it. The choice is kept
-- in the rider's presence record as hide_battery and hide_network (absent: shared). Returns
-- whether a value that was kept is gone.
local function apply_sharing(presence, hide_battery, hide_network)
  presence.hide_battery = hide_battery or nil
  presence.hide_network = hide_network or nil
  local dropped = false
  if hide_battery and presence.battery_pct ~= nil then
    presence.battery_pct = nil
    dropped = true
  end
  if hide_network and presence.network_type ~= nil then
    presence.network_type = nil
    dropped = true
  end
  return dropped
end

-- The rider's recent trail (keys.py): a point every sample_ms, the oldest trimmed by time
-- whenever one is added. Returns the keys that may have just been created.
local function trim_points(points, cutoff)
  local kept = {}
  for _, point in ipairs(points) do
    if point[1] >= cutoff then table.insert(kept, point) end
  end
  return kept
end

local function sample_trail(rider, fix, sample_ms, keep_ms)
  local sampled = redis.call('ZSCORE', TRAIL_SAMPLED, rider)
  if sampled and now - tonumber(sampled) < sample_ms then return {} end
  local raw = redis.call('HGET', TRAIL, rider)
  local points = trim_points(raw and cjson.decode(raw) or {}, now - keep_ms)
  table.insert(points, {now, fix.lat, fix.lon, fix.speed_kmh, fix.heading_deg})
  local created = {}
  if redis.call('HSET', TRAIL, rider, cjson.encode(points)) == 1 then
    table.insert(created, TRAIL)
  end
  if redis.call('ZADD', TRAIL_SAMPLED, now, rider) == 1 then
    table.insert(created, TRAIL_SAMPLED)
  end
  return created
end

-- Trails not written since stale_cutoff (a phone that stopped sending positions, a rider who
-- timed out) are trimmed here, by the cleanup; a trail left empty is deleted.
local function trim_stale_trails(stale_cutoff, keep_cutoff)
  for _, rider in ipairs(redis.call('ZRANGEBYSCORE', TRAIL_SAMPLED, '-inf', stale_cutoff)) do
    local raw = redis.call('HGET', TRAIL, rider)
    local points = trim_points(raw and cjson.decode(raw) or {}, keep_cutoff)
    if #points == 0 then
      redis.call('HDEL', TRAIL, rider)
      redis.call('ZREM', TRAIL_SAMPLED, rider)
    else
      redis.call('HSET', TRAIL, rider, cjson.encode(points))
    end
  end
end

local function forget_trail(rider)
  redis.call('HDEL', TRAIL, rider)
  redis.call('ZREM', TRAIL_SAMPLED, rider)
end

-- A rider who paused sharing their position has none in the room's live state, and no trail.
local function forget_position(rider)
  redis.call('ZREM', LOCATIONS, rider)
  redis.call('HDEL', LOCATION_DETAILS, rider)
  forget_trail(rider)
end

-- What the silent-rider rule needs of a socket drop, taken as it happens: when, the last fix
-- (speed and position), and who was within radius_km then. One record per rider, the latest.
local function record_drop(rider, radius_km)
  local drop = {at = now}
  local details = redis.call('HGET', LOCATION_DETAILS, rider)
  if details then
    drop.fix = cjson.decode(details)
    local neighbours = {}
    local found = redis.call('GEOSEARCH', LOCATIONS, 'FROMMEMBER', rider, 'BYRADIUS', radius_km, 'km')
    for _, other in ipairs(found) do
      if other ~= rider then table.insert(neighbours, other) end
    end
    drop.neighbours = neighbours
  end
  redis.call('HSET', DROPS, rider, cjson.encode(drop))
end

-- The rider's phone is back (a new socket, or a message on the old one).
local function mark_back(rider)
  local raw = redis.call('HGET', DROPS, rider)
  if not raw then return end
  local drop = cjson.decode(raw)
  if drop.back_at == nil then
    drop.back_at = now
    redis.call('HSET', DROPS, rider, cjson.encode(drop))
  end
end

-- Drops of riders back before back_cutoff have been judged (the rule's decision window is
-- over for them and for every drop they are a neighbour of).
local function prune_drops(back_cutoff)
  local drops = redis.call('HGETALL', DROPS)
  for index = 1, #drops, 2 do
    local drop = cjson.decode(drops[index + 1])
    if drop.back_at ~= nil and drop.back_at < back_cutoff then
      redis.call('HDEL', DROPS, drops[index])
    end
  end
end

-- The sequence number is taken in the same script as the change it describes, so the log
-- never skips or reorders a change. The log is a list of the latest log_length events with
-- consecutive seqs, which is what events_since relies on.
-- The event is published to the room's sockets in the same step: Redis runs one script at a
-- time and delivers a channel's messages in the order they were published, so every socket of
-- the ride, on any worker of any host, receives the room's events in seq order. The message is
-- what the channel layer's group_send would publish (its msgpack serializer, which the store
-- tests pin): {type = 'room.event', event = <the event as logged>}.
-- emit_encoded takes the payload as JSON text its caller encoded (a ride alert's details are
-- the server's own JSON, which cjson would not give back as it came: an empty list decodes
-- to an empty table and encodes as an object).
local function emit_encoded(kind, rider, payload_json)
  local seq = redis.call('INCR', SEQ)
  local event = '{"seq":' .. seq .. ',"type":' .. cjson.encode(kind) .. ',"rider_id":'
    .. cjson.encode(rider) .. ',"payload":' .. payload_json .. ',"at":' .. cjson.encode(now) .. '}'
  redis.call('RPUSH', EVENTS, event)
  redis.call('LTRIM', EVENTS, -log_length, -1)
  if room_channel ~= '' then
    redis.call('PUBLISH', room_channel, cmsgpack.pack({type = 'room.event', event = event}))
  end
  return event
end

local function emit(kind, rider, payload)
  return emit_encoded(kind, rider, cjson.encode(payload))
end

-- Activity keeps the whole room alive: every key gets the full TTL again, so a room's keys
-- always expire together and nothing outlives a room whose phones all died. Renewing a dozen
-- TTLs on every heartbeat would be a dozen writes per message, each replicated and logged, so
-- they are renewed together once SESSION's has run down by a tenth (or the configured TTL
-- changed); in between, a key the script may have created gets its TTL if it has none. SESSION
-- comes first in KEYS and is renewed with all the others, so its deadline is never later
-- than another key's: a room whose session exists has all its keys.
local function renew_ttls(written)
  local session_ttl = redis.call('PTTL', SESSION)
  if session_ttl < room_ttl_ms * 0.9 or session_ttl > room_ttl_ms then
    for _, key in ipairs(KEYS) do
      redis.call('PEXPIRE', key, room_ttl_ms)
    end
    return
  end
  for _, key in ipairs(written) do
    if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, room_ttl_ms) end
  end
end

-- After a change to the room's members or their state: any key may be new.
local function touch()
  redis.call('HSET', SESSION, 'last_activity', now, 'member_count', redis.call('ZCARD', MEMBERS))
  renew_ttls(KEYS)
end

-- After a heartbeat or a position: the members are unchanged and only ``written`` (the keys
-- that just gained a member or field, so may have just been created) can lack a TTL.
local function touch_seen(written)
  redis.call('HSET', SESSION, 'last_activity', now)
  renew_ttls(written)
end

-- Returns whether the rider was new to LAST_SEEN (which may then have just been created).
local function mark_seen(rider)
  return redis.call('ZADD', LAST_SEEN, now, rider) == 1
end

-- Takes the rider out of every structure of the room and logs member_left. The payload says
-- which role they had, so clients drop the sweep without a separate event.
local function remove_member(rider, reason)
  if not is_member(rider) then return false end
  local role = role_of(rider)
  redis.call('ZREM', MEMBERS, rider)
  redis.call('HDEL', PRESENCE, rider)
  redis.call('ZREM', LAST_SEEN, rider)
  redis.call('ZREM', RECONNECTING, rider)
  redis.call('ZREM', LOCATIONS, rider)
  redis.call('HDEL', LOCATION_DETAILS, rider)
  redis.call('HDEL', CONNECTION_SESSIONS, rider)
  -- A rider timed out after a drop keeps the drop and the trail until they are back or the
  -- ride ends: that is what the silent-rider alert shows. Anyone else leaving takes them along.
  if reason ~= 'timed_out' or redis.call('HEXISTS', DROPS, rider) == 0 then
    redis.call('HDEL', DROPS, rider)
    forget_trail(rider)
  end
  for _, field in ipairs(redis.call('HKEYS', CONNECTIONS)) do
    local split = string.find(field, '>', 1, true)
    if string.sub(field, 1, split - 1) == rider or string.sub(field, split + 1) == rider then
      redis.call('HDEL', CONNECTIONS, field)
    end
  end
  if role == 'sweep' then
    redis.call('HSET', SESSION, 'sweep_id', '')
  end
  return emit('member_left', rider, {reason = reason, role = role})
end

local function delete_room()
  redis.call('DEL', unpack(KEYS))
end

-- Everything a snapshot is built from, read in one go so it matches the seq it reports.
local function dump_room()
  return {
    redis.call('HGETALL', SESSION),
    redis.call('ZRANGE', MEMBERS, 0, -1, 'WITHSCORES'),
    redis.call('HGETALL', PRESENCE),
    redis.call('ZRANGE', LAST_SEEN, 0, -1, 'WITHSCORES'),
    redis.call('HGETALL', LOCATION_DETAILS),
    redis.call('HGETALL', CONNECTIONS),
    redis.call('GET', SEQ) or '0',
  }
end
