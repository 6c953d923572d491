-- ARGV: prefix, events_maxlen, job, retention_seconds
-- Returns {'cancelled'} (was queued) | {'cancelling'} (running: the worker stops at its
-- next step) | {'already', status} | {'missing'}
local job, retention = ARGV[3], tonumber(ARGV[4])
local jobkey = P .. 'job:' .. job
local m = meta(jobkey)
if not m.status then
  return {'missing'}
end
local now = fmt(now_s())
if m.status == 'queued' then
  unlink(m.lane, m.guild_id, m.user_id, job)
  finalize(jobkey, job, m, 'cancelled', now, retention, '{}', nil)
  return {'cancelled'}
elseif m.status == 'running' then
  if m.cancel_requested ~= '1' then
    redis.call('HSET', jobkey, 'cancel_requested', '1', 'updated_at', now)
    emit(job, 'cancel_requested', now, '{}', m)
  end
  return {'cancelling'}
end
return {'already', m.status}
