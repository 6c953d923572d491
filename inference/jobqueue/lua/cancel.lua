-- ARGV: prefix, events_maxlen, job, retention_seconds
-- Returns {'cancelled'} (was queued) | {'cancelling'} (running: the worker stops at its
-- next step) | {'already', status} | {'missing'}
local job, retention = ARGV[3], tonumber(ARGV[4])
local jobkey = P .. 'job:' .. job
local f = redis.call('HMGET', jobkey, 'status', 'lane', 'guild_id', 'user_id', 'cancel_requested')
if not f[1] then
  return {'missing'}
end
local now = now_s()
if f[1] == 'queued' then
  unlink(f[2], f[3], f[4], job)
  finalize(jobkey, job, 'cancelled', now, retention, '{}', nil)
  return {'cancelled'}
elseif f[1] == 'running' then
  if f[5] ~= '1' then
    redis.call('HSET', jobkey, 'cancel_requested', '1', 'updated_at', fmt(now))
    emit(jobkey, job, 'cancel_requested', now, '{}')
  end
  return {'cancelling'}
end
return {'already', f[1]}
