-- A worker that is stopping hands its job back. ARGV: prefix, events_maxlen, job, token,
--   retention_seconds, reason
-- The attempt is not counted. Returns {'queued'} | {'cancelled'} | {'stale', status}
local job, token, retention, reason = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local jobkey = P .. 'job:' .. job
local m = meta(jobkey)
if m.status ~= 'running' or m.lease ~= token then
  return {'stale', m.status or ''}
end
local now = fmt(now_s())
if m.cancel_requested == '1' then
  finalize(jobkey, job, m, 'cancelled', now, retention, '{}', nil)
  return {'cancelled'}
end
m.attempts = redis.call('HINCRBY', jobkey, 'attempts', -1)
requeue(jobkey, job, m, now, '{"reason":' .. cjson.encode(reason) .. '}')
return {'queued'}
