-- A worker that is stopping hands its job back. ARGV: prefix, events_maxlen, job, token,
--   retention_seconds, reason
-- The attempt is not counted. Returns {'queued'} | {'cancelled'} | {'stale', status}
local job, token, retention, reason = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local jobkey = P .. 'job:' .. job
local f = redis.call('HMGET', jobkey, 'status', 'lease', 'cancel_requested', 'lane',
  'guild_id', 'user_id', 'seq')
if f[1] ~= 'running' or f[2] ~= token then
  return {'stale', f[1] or ''}
end
local now = now_s()
if f[3] == '1' then
  finalize(jobkey, job, 'cancelled', now, retention, '{}', nil)
  return {'cancelled'}
end
redis.call('HINCRBY', jobkey, 'attempts', -1)
redis.call('HSET', jobkey, 'status', 'queued', 'updated_at', fmt(now))
redis.call('HDEL', jobkey, 'lease', 'worker_id', 'started_at')
redis.call('ZREM', P .. 'leases', job)
push(f[4], f[5], f[6], job, tonumber(f[7]))
emit(jobkey, job, 'requeued', now, '{"reason":' .. cjson.encode(reason) .. '}')
return {'queued'}
