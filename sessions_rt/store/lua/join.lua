-- ARGV[5] rider, [6] leader id or '', [7] connection record JSON, [8] a fresh session id
-- Returns {'joined', event} | {'resumed', event or ''} (already a live member).
local rider, leader, connection_session, fresh_session_id = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

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

if is_member(rider) then
  -- Back within the grace period (or a second socket): no member_joined. A rider coming back
  -- from "reconnecting" gets the status they had before the drop.
  local event = ''
  if redis.call('ZREM', RECONNECTING, rider) == 1 then
    local presence = read_presence(rider)
    presence.status = presence.resume_status or 'online'
    presence.resume_status = nil
    redis.call('HSET', PRESENCE, rider, cjson.encode(presence))
    event = emit('presence_changed', rider, presence_payload(presence, 'reconnecting'))
  end
  touch()
  return {'resumed', event}
end

redis.call('ZADD', MEMBERS, now, rider)
redis.call('HSET', PRESENCE, rider, cjson.encode({status = 'online'}))
local event = emit('member_joined', rider, {status = 'online', role = role_of(rider)})
touch()
return {'joined', event}
