-- Ends running jobs; only the current lease holder may (fencing).
-- ARGV: prefix, events_maxlen, retention_seconds, then per job:
--   job, token, status, error, result_json
-- Returns one reply per job: {'ok'} | {'stale', current_status_or_''}
local retention = tonumber(ARGV[3])
local now = now_s()
local at = fmt(now)
local replies = {}
for i = 4, #ARGV, 5 do
  local job, token, status, err, result = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local jobkey = P .. 'job:' .. job
  local m = meta(jobkey)
  if m.status ~= 'running' or m.lease ~= token then
    replies[#replies + 1] = {'stale', m.status or ''}
  else
    local extra, data
    if status == 'succeeded' then
      extra = {'result', result}
      data = '{"result":' .. result .. '}'
      -- exponentially weighted run time per lane, for ETAs
      local state = lane_key(m.lane) .. ':state'
      local took = now - tonumber(m.started_at)
      local avg = tonumber(redis.call('HGET', state, 'run_avg') or '')
      redis.call('HSET', state, 'run_avg', fmt(avg and (0.8 * avg + 0.2 * took) or took))
    else
      extra = {'error', err}
      data = '{"error":' .. cjson.encode(err) .. '}'
    end
    finalize(jobkey, job, m, status, at, retention, data, extra)
    replies[#replies + 1] = {'ok'}
  end
end
return replies
