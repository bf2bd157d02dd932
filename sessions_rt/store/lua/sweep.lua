-- ARGV[5] acting rider, [6] new sweep or '' (none)
-- Returns {'no_room'} | {'not_leader'} | {'invalid_sweep'} | {'ok', event or ''}.
local by, sweep = ARGV[5], ARGV[6]
if not room_exists() then return {'no_room'} end
local roles = redis.call('HMGET', SESSION, 'leader_id', 'sweep_id')
local leader, current = roles[1], roles[2] or ''
if not leader or leader == '' or by ~= leader then return {'not_leader'} end
if sweep ~= '' and (sweep == leader or not is_member(sweep)) then return {'invalid_sweep'} end
local event = ''
if sweep ~= current then
  redis.call('HSET', SESSION, 'sweep_id', sweep)
  event = emit('sweep_changed', by, {sweep_id = or_null(sweep), previous_sweep_id = or_null(current)})
end
touch()
return {'ok', event}
