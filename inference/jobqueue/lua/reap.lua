-- Reclaims expired leases. ARGV: prefix, events_maxlen, retention_seconds, limit
-- A job whose worker stopped heart-beating goes back to the front of its member's queue,
-- fails after its last attempt, or ends as cancelled when a cancel was pending.
-- Returns {requeued, failed, cancelled}.
local retention, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_s()
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, limit)
now = fmt(now)
local requeued, failed, cancelled = 0, 0, 0
for _, job in ipairs(expired) do
  local jobkey = P .. 'job:' .. job
  local m = meta(jobkey)
  if m.status ~= 'running' then
    redis.call('ZREM', P .. 'leases', job)
  elseif m.cancel_requested == '1' then
    finalize(jobkey, job, m, 'cancelled', now, retention, '{}', nil)
    cancelled = cancelled + 1
  elseif tonumber(m.attempts) >= tonumber(m.max_attempts) then
    local msg = 'the worker rendering this job stopped responding ' .. m.attempts ..
      ' time(s), the most allowed; it was not retried again'
    finalize(jobkey, job, m, 'failed', now, retention, '{"error":' .. cjson.encode(msg) .. '}', {'error', msg})
    failed = failed + 1
  else
    requeue(jobkey, job, m, now, '{"reason":"lease expired","worker":' .. cjson.encode(m.worker_id or '') .. '}')
    requeued = requeued + 1
  end
end
return {requeued, failed, cancelled}
