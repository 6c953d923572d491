-- ARGV: prefix, events_maxlen, worker_id, lease_seconds, max_jobs, lane1, lane2, ...
-- Claims up to max_jobs: the lane order is the caller's; inside a lane the guild with
-- the lowest pass, then its member with the lowest pass, then that member's oldest job.
-- Returns per claimed job: token, now, field1, value1, ..., '' (separator). The fields are
-- as read before the claim; the caller applies the claim's changes itself.
-- an operator paused the queue (/queue pause): start nothing; running jobs carry on
if redis.call('HGET', P .. 'maintenance', 'mode') == 'paused' then
  return {}
end
local worker, lease, max_jobs = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_s()
local at = fmt(now)
local out = {}
local claimed = 0
for i = 6, #ARGV do
  local L = lane_key(ARGV[i])
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
    local fields = redis.call('HGETALL', jobkey)
    local m = {}
    for k = 1, #fields, 2 do
      m[fields[k]] = fields[k + 1]
    end
    -- stride scheduling: the member's pass advances by 1/weight (a guild's role tiers
    -- weight its own members), the guild's by 1, so no guild's settings buy it a larger
    -- share of the GPU than another guild's
    local cost = 1 / (tonumber(m.weight) or 1)
    local guild_left = true
    if redis.call('EXISTS', ukey) == 1 then
      redis.call('ZADD', users, upass + cost, user)
    else
      redis.call('ZREM', users, user)
      guild_left = redis.call('EXISTS', users) == 1
    end
    if guild_left then
      redis.call('ZADD', L .. ':guilds', gpass + 1, guild)
    else
      redis.call('ZREM', L .. ':guilds', guild)
    end
    depth_add(m.lane, guild, -1)
    -- the fencing token counts this job's claims: each claim gets a new, larger one
    local token = (tonumber(m.lease) or 0) + 1
    m.attempts = (tonumber(m.attempts) or 0) + 1
    redis.call('HSET', jobkey, 'status', 'running', 'worker_id', worker, 'lease', token,
      'attempts', m.attempts, 'started_at', at, 'updated_at', at)
    redis.call('ZADD', P .. 'leases', now + lease, job)
    emit(job, 'running', at, '{"worker":' .. cjson.encode(worker) .. '}', m)
    out[#out + 1] = tostring(token)
    out[#out + 1] = at
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
