-- ARGV: prefix, events_maxlen, job, token, status, retention_seconds, error, result_json
-- Ends a running job; only the current lease holder may (fencing).
-- Returns {'ok', event_id} | {'stale', current_status_or_''}
local job, token, status, retention = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local err, result = ARGV[7], ARGV[8]
local jobkey = P .. 'job:' .. job
local f = redis.call('HMGET', jobkey, 'status', 'lease', 'started_at', 'lane')
if f[1] ~= 'running' or f[2] ~= token then
  return {'stale', f[1] or ''}
end
local now = now_s()
local extra = {}
local data
if status == 'succeeded' then
  extra = {'result', result}
  data = '{"result":' .. result .. '}'
  -- exponentially weighted run time per lane, for ETAs
  local state = lane_key(f[4]) .. ':state'
  local took = now - tonumber(f[3])
  local avg = tonumber(redis.call('HGET', state, 'run_avg') or '')
  avg = avg and (0.8 * avg + 0.2 * took) or took
  redis.call('HSET', state, 'run_avg', fmt(avg))
else
  extra = {'error', err}
  data = '{"error":' .. cjson.encode(err) .. '}'
end
return {'ok', finalize(jobkey, job, status, now, retention, data, extra)}
