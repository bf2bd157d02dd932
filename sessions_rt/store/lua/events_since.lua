-- ARGV[5] last seq the phone has, [6] the session id it has it from
-- Returns {'events', {event, ...}} with exactly the events after that seq, or
-- {'snapshot', dump} when they can't be given: another session (the room was emptied and
-- started again, so seqs restarted), a seq ahead of ours, or one older than the log keeps.
local since, session_id = tonumber(ARGV[5]), ARGV[6]
local current_session = redis.call('HGET', SESSION, 'session_id')
local seq = tonumber(redis.call('GET', SEQ) or '0')
if current_session and current_session == session_id and since <= seq then
  -- The log holds consecutive seqs ending at seq.
  local oldest = seq - redis.call('LLEN', EVENTS) + 1
  if since >= oldest - 1 then
    return {'events', redis.call('LRANGE', EVENTS, since - oldest + 1, -1)}
  end
end
return {'snapshot', dump_room()}
