-- ARGV: prefix, events_maxlen, worker_id, lease_seconds, max_jobs, lane1, lane2, ...
-- Claims up to max_jobs: the lane order is the caller's; inside a lane the guild with
-- the lowest pass, then its member with the lowest pass, then that member's oldest job.
-- Returns a flat list: token, field1, value1, ..., '' (separator) per claimed job.
local worker, lease, max_jobs = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_s()
local out = {}
local claimed = 0
for i = 6, #ARGV do
  local lane = ARGV[i]
  local L = lane_key(lane)
  local state = L .. ':state'
  while claimed < max_jobs do
    local g = redis.call('ZRANGE', L .. ':guilds', 0, 0, 'WITHSCORES')
    if #g == 0 then
      break
    end
    local guild, gpass = g[1], tonumber(g[2])
    local users = L .. ':g:' .. guild .. ':users'
    local u = redis.call('ZRANGE', users, 0, 0, 'WITHSCORES')
    local user, upass = u[1], tonumber(u[2])
    local ukey = L .. ':g:' .. guild .. ':u:' .. user
    local job = redis.call('ZPOPMIN', ukey)[1]
    local jobkey = P .. 'job:' .. job
    local cost = 1 / (tonumber(redis.call('HGET', jobkey, 'weight')) or 1)
    -- advance the member's and the guild's pass by the job's cost (stride scheduling)
    redis.call('HSET', state, 'vt:' .. guild, upass, 'vt', gpass)
    if redis.call('EXISTS', ukey) == 0 then
      redis.call('ZREM', users, user)
    else
      redis.call('ZADD', users, upass + cost, user)
    end
    if redis.call('EXISTS', users) == 0 then
      redis.call('ZREM', L .. ':guilds', guild)
      redis.call('HDEL', state, 'vt:' .. guild)
    else
      redis.call('ZADD', L .. ':guilds', gpass + cost, guild)
    end
    depth_add(lane, guild, -1)
    local token = redis.call('INCR', P .. 'seq')
    redis.call('HINCRBY', jobkey, 'attempts', 1)
    redis.call('HSET', jobkey, 'status', 'running', 'worker_id', worker, 'lease', token,
      'started_at', fmt(now), 'updated_at', fmt(now))
    redis.call('ZADD', P .. 'leases', now + lease, job)
    emit(jobkey, job, 'running', now, '{"worker":' .. cjson.encode(worker) .. '}')
    out[#out + 1] = tostring(token)
    local fields = redis.call('HGETALL', jobkey)
    for k = 1, #fields do
      out[#out + 1] = fields[k]
    end
    out[#out + 1] = ''
    claimed = claimed + 1
  end
  if claimed >= max_jobs then
    break
  end
end
return out
