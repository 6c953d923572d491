-- Heartbeat and progress. ARGV: prefix, events_maxlen, lease_seconds, step, total, then
--   per job: job, token   (step/total empty for a plain heartbeat)
-- Extends each lease the caller still holds. Returns one code per job:
-- 0 = the lease is lost (another worker or the reaper took it), 1 = held,
-- 2 = held and a cancel was requested (stop at this step).
local lease, step, total = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now = now_s()
local out = {}
for i = 6, #ARGV, 2 do
  local job, token = ARGV[i], ARGV[i + 1]
  local jobkey = P .. 'job:' .. job
  local f = redis.call('HMGET', jobkey, 'status', 'lease', 'cancel_requested')
  if f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = 0
  else
    redis.call('ZADD', P .. 'leases', 'XX', now + lease, job)
    if step ~= '' then
      local at = fmt(now)
      redis.call('HSET', jobkey, 'updated_at', at)
      emit(job, 'progress', at, '{"step":' .. tonumber(step) .. ',"total":' .. tonumber(total) .. '}',
        meta(jobkey))
    end
    out[#out + 1] = (f[3] == '1') and 2 or 1
  end
end
return out
