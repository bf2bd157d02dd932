-- ARGV[5] rider, [6] leader id or '', [7] connection record JSON, [8] a fresh session id,
-- [9] '1' if the rider does not share their battery, [10] '1' if not their network type
-- Returns {'joined', event} | {'resumed', event or ''} (already a live member).
local rider, leader, connection_session, fresh_session_id = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local hide_battery, hide_network = ARGV[9] == '1', ARGV[10] == '1'

if not room_exists() then
  -- A new live session. Keys of an expired one expire together but not in the same instant;
  -- whatever is left of it must not leak into this one.
  delete_room()
  redis.call('HSET', SESSION, 'session_id', fresh_session_id, 'created_at', now, 'sweep_id', '')
end
if leader ~= '' then
  redis.call('HSET', SESSION, 'leader_id', leader)
end
redis.call('HSET', CONNECTION_SESSIONS, rider, connection_session)
mark_seen(rider)
mark_back(rider)

if is_member(rider) then
  -- Back within the grace period (or a second socket): no member_joined. A rider coming back
  -- from "reconnecting" gets the status they had before the drop; a paused position stays
  -- paused. The sharing choice is the one the new socket read from the rider's profile.
  local event = ''
  local presence = read_presence(rider)
  local dropped = apply_sharing(presence, hide_battery, hide_network)
  local previous = presence.status
  if redis.call('ZREM', RECONNECTING, rider) == 1 then
    presence.status = presence.resume_status or 'online'
    presence.resume_status = nil
  end
  redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
  if dropped or presence.status ~= previous then
    event = emit('presence_changed', rider, presence_payload(presence, previous))
  end
  touch()
  return {'resumed', event}
end

redis.call('ZADD', MEMBERS, now, rider)
local presence = {status = 'online'}
apply_sharing(presence, hide_battery, hide_network)
redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
local event = emit('member_joined', rider, {status = 'online', role = role_of(rider)})
touch()
return {'joined', event}
