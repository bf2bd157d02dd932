-- ARGV[4] rider, [5] peer, [6] connections field, [7] state, [8] ICE state or '' (keep)
-- Returns {'not_member', who} | {'ok', event or ''} ('' when nothing changed).
local rider, peer, field, state, ice = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
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
