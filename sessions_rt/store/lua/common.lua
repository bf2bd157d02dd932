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

-- A rider who paused sharing their position has none in the room's live state.
local function forget_position(rider)
  redis.call('ZREM', LOCATIONS, rider)
  redis.call('HDEL', LOCATION_DETAILS, rider)
end

-- The sequence number is taken in the same script as the change it describes, so the log
-- never skips or reorders a change. The log is a list of the latest log_length events with
-- consecutive seqs, which is what events_since relies on.
-- The event is published to the room's sockets in the same step: Redis runs one script at a
-- time and delivers a channel's messages in the order they were published, so every socket of
-- the ride, on any worker of any host, receives the room's events in seq order. The message is
-- what the channel layer's group_send would publish (its msgpack serializer, which the store
-- tests pin): {type = 'room.event', event = <the event as logged>}.
local function emit(kind, rider, payload)
  local seq = redis.call('INCR', SEQ)
  local event = cjson.encode({seq = seq, type = kind, rider_id = rider, payload = payload, at = now})
  redis.call('RPUSH', EVENTS, event)
  redis.call('LTRIM', EVENTS, -log_length, -1)
  if room_channel ~= '' then
    redis.call('PUBLISH', room_channel, cmsgpack.pack({type = 'room.event', event = event}))
  end
  return event
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
