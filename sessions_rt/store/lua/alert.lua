-- ARGV[5] event type (alert_raised, alert_acknowledged, alert_resolved), [6] the rider the
-- alert is about, [7] the payload, a JSON object the caller encoded, [8] '1' to add
-- alarm_first: the leader and the sweep, whose phones alarm first.
-- Returns {'no_session'} | {'ok', event}.
-- A ride with no live session has no phone to tell: its alerts are in PostgreSQL, and the
-- first socket's snapshot lists the open ones. An alert is no sign of life, so it renews the
-- TTLs only of what it writes and leaves the ride out of the live-rooms index.
if not room_exists() then return {'no_session'} end
local payload = ARGV[7]
if ARGV[8] == '1' then
  local roles = redis.call('HMGET', SESSION, 'leader_id', 'sweep_id')
  local first = {}
  for position = 1, 2 do
    local id = roles[position]
    if id and id ~= '' and id ~= ARGV[6] then first[#first + 1] = cjson.encode(id) end
  end
  payload = string.sub(payload, 1, -2) .. ',"alarm_first":[' .. table.concat(first, ',') .. ']}'
end
local event = emit_encoded(ARGV[5], ARGV[6], payload)
renew_ttls({SEQ, EVENTS})
return {'ok', event}
