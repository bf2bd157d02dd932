-- ARGV[5] rider, [6] peer, [7] connections field, [8] state, [9] ICE state or '' (keep)
-- Returns {'not_member', who} | {'ok', event or ''} ('' when nothing changed).
local rider, peer, field, state, ice = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if not is_live_member(rider) then return {'not_member', rider} end
if not is_member(peer) then return {'not_member', peer} end
mark_seen(rider)

local stored = redis.call('HGET', CONNECTIONS, field)
local link = stored and cjson.decode(stored) or {}
if ice == '' then ice = link.ice_state end
local event = ''
if not stored or link.state ~= state or link.ice_state ~= ice then
  local previous = link.state
  redis.call('HSET', CONNECTIONS, field, cjson.encode({state = state, ice_state = ice, changed_at = now}))
  event = emit('connection_changed', rider, {
    peer_id = peer, state = state, ice_state = or_null(ice), previous_state = or_null(previous),
  })
end
touch()
return {'ok', event}
