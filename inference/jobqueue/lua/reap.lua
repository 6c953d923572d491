-- Reclaims expired leases. ARGV: prefix, events_maxlen, retention_seconds, limit
-- A job whose worker stopped heart-beating goes back to the front of its member's queue
-- (it keeps its enqueue sequence), fails after its last attempt, or ends as cancelled
-- when a cancel was pending. Returns {requeued, failed, cancelled}.
local retention, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_s()
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, limit)
local requeued, failed, cancelled = 0, 0, 0
for _, job in ipairs(expired) do
  local jobkey = P .. 'job:' .. job
  local f = redis.call('HMGET', jobkey, 'status', 'cancel_requested', 'attempts',
    'max_attempts', 'lane', 'guild_id', 'user_id', 'seq', 'worker_id')
  if f[1] ~= 'running' then
    redis.call('ZREM', P .. 'leases', job)
  elseif f[2] == '1' then
    finalize(jobkey, job, 'cancelled', now, retention, '{}', nil)
    cancelled = cancelled + 1
  elseif tonumber(f[3]) >= tonumber(f[4]) then
    local msg = 'the worker rendering this job stopped responding ' .. f[3] ..
      ' time(s), the most allowed; it was not retried again'
    finalize(jobkey, job, 'failed', now, retention,
      '{"error":' .. cjson.encode(msg) .. '}', {'error', msg})
    failed = failed + 1
  else
    redis.call('HSET', jobkey, 'status', 'queued', 'updated_at', fmt(now))
    redis.call('HDEL', jobkey, 'lease', 'worker_id', 'started_at')
    redis.call('ZREM', P .. 'leases', job)
    push(f[5], f[6], f[7], job, tonumber(f[8]))
    emit(jobkey, job, 'requeued', now,
      '{"reason":"lease expired","worker":' .. cjson.encode(f[9] or '') .. '}')
    requeued = requeued + 1
  end
end
return {requeued, failed, cancelled}
