-- Shared helpers, prepended to every Reelbot queue script.
-- ARGV[1] is the key prefix and ARGV[2] the event stream's length cap. The scripts build
-- the keys named in inference/contract.py (Keys); all share one Redis Cluster hash tag.
-- Each redis.call costs a few microseconds, so the scripts read a job once and pass
-- what they read along rather than asking again.
local P = ARGV[1]

local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x)
  return string.format('%.6f', x)
end

local function lane_key(lane)
  return P .. 'lane:' .. lane
end

-- The job fields the scripts work with, read in one call into a table by name.
local META = {'status', 'lease', 'cancel_requested', 'lane', 'guild_id', 'user_id', 'channel_id',
  'attempts', 'max_attempts', 'seq', 'request_id', 'started_at', 'worker_id', 'weight', 'tracked',
  'quota', 'quota_day', 'units'}

local function meta(jobkey)
  local values = redis.call('HMGET', jobkey, unpack(META))
  local m = {}
  for i, name in ipairs(META) do
    m[name] = values[i]
  end
  return m
end

-- counters that vanish at zero, so an empty queue leaves no keys behind
local function hdecr(key, field, by)
  if redis.call('HINCRBY', key, field, -(by or 1)) <= 0 then
    redis.call('HDEL', key, field)
  end
end

-- Queued-job counters: all lanes (``all``) and per guild in the shared depth hash, and
-- per guild in the lane's depth hash (a lane's depth is the sum of those).
local function depth_add(lane, guild, n)
  local d = P .. 'depth'
  local per_lane = lane_key(lane) .. ':depth'
  if n > 0 then
    redis.call('HINCRBY', d, 'all', 1)
    redis.call('HINCRBY', d, 'guild:' .. guild, 1)
    redis.call('HINCRBY', per_lane, 'gd:' .. guild, 1)
  else
    hdecr(d, 'all')
    hdecr(d, 'guild:' .. guild)
    hdecr(per_lane, 'gd:' .. guild)
  end
end

-- Put a job in its member's queue; a member or guild that had nothing queued enters
-- the round-robin at the lane's current virtual time (no credit for idle time).
-- The virtual time of a round-robin is its lowest pass: a newcomer starts level with
-- whoever is next, so it is served within two claims and gets no credit for idling.
local function entry_pass(zset)
  local first = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  return first[2] or 0
end

local function push(lane, guild, user, job, seq)
  local L = lane_key(lane)
  local users = L .. ':g:' .. guild .. ':users'
  redis.call('ZADD', L .. ':g:' .. guild .. ':u:' .. user, seq, job)
  if not redis.call('ZSCORE', users, user) then
    redis.call('ZADD', users, entry_pass(users), user)
  end
  if not redis.call('ZSCORE', L .. ':guilds', guild) then
    redis.call('ZADD', L .. ':guilds', entry_pass(L .. ':guilds'), guild)
  end
  depth_add(lane, guild, 1)
  -- ring the doorbell a blocked worker waits on; one ring is enough until it is answered
  if redis.call('EXISTS', L .. ':wake') == 0 then
    redis.call('LPUSH', L .. ':wake', '1')
    redis.call('EXPIRE', L .. ':wake', 60)
  end
end

-- Take a queued job out of its member's queue (cancel); the member and guild leave
-- the round-robin when they have nothing left.
local function unlink(lane, guild, user, job)
  local L = lane_key(lane)
  local users = L .. ':g:' .. guild .. ':users'
  if redis.call('ZREM', L .. ':g:' .. guild .. ':u:' .. user, job) == 0 then
    return false
  end
  if redis.call('EXISTS', L .. ':g:' .. guild .. ':u:' .. user) == 0 then
    redis.call('ZREM', users, user)
    if redis.call('EXISTS', users) == 0 then
      redis.call('ZREM', L .. ':guilds', guild)
    end
  end
  depth_add(lane, guild, -1)
  return true
end

-- Publish a job event at time ``at`` (formatted); ``m`` holds the job's guild, channel,
-- member and attempt.
local function emit(job, etype, at, data, m)
  return redis.call('XADD', P .. 'events', 'MAXLEN', '~', ARGV[2], '*',
    'v', '1', 'type', etype, 'job', job, 'guild', m.guild_id, 'channel', m.channel_id,
    'user', m.user_id, 'at', at, 'attempt', m.attempts or '0', 'data', data or '{}')
end

-- A guild's daily-quota counts for one UTC day (day number = Unix time // 86400).
local function quota_key(guild, day)
  return P .. 'quota:' .. guild .. ':' .. day
end

-- Turn an admitted job's daily-quota hold into a charge or a refund (once: the job's
-- ``quota`` field says it is no longer held). A day whose counts expired is left alone.
local function settle_quota(jobkey, m, outcome)
  local q = quota_key(m.guild_id, m.quota_day)
  local units = tonumber(m.units) or 1  -- a 10 s clip counts as two
  if redis.call('EXISTS', q) == 1 then
    hdecr(q, 'held', units)
    hdecr(q, 'held:' .. m.user_id, units)
    if outcome == 'charged' then
      redis.call('HINCRBY', q, 'used', units)
      redis.call('HINCRBY', q, 'used:' .. m.user_id, units)
    end
  end
  redis.call('HSET', jobkey, 'quota', outcome)
end

-- Give back what admission took (admission.lua) when a job ends: its place among its
-- member's active jobs, and its quota hold unless it succeeded (the bot charges a clip
-- when it posts it, or refunds it when it cannot).
local function release_limits(jobkey, job, m, status)
  if m.tracked ~= '1' then
    return
  end
  redis.call('SREM', P .. 'active:' .. m.guild_id .. ':' .. m.user_id, job)
  if m.quota == 'held' and status ~= 'succeeded' then
    settle_quota(jobkey, m, 'refunded')
  end
end

-- End a job for good: terminal status, retention TTL on its record, a final event.
-- (The lease field stays: a terminal status already refuses every fenced call. The
-- request id got its TTL at enqueue.)
local function finalize(jobkey, job, m, status, at, retention, data, extra)
  release_limits(jobkey, job, m, status)
  if extra then
    redis.call('HSET', jobkey, 'status', status, 'updated_at', at, 'finished_at', at, extra[1], extra[2])
  else
    redis.call('HSET', jobkey, 'status', status, 'updated_at', at, 'finished_at', at)
  end
  redis.call('ZREM', P .. 'leases', job)
  redis.call('EXPIRE', jobkey, retention)
  return emit(job, status, at, data, m)
end

-- Back to the front of its member's queue (it keeps its enqueue sequence).
local function requeue(jobkey, job, m, at, data)
  redis.call('HSET', jobkey, 'status', 'queued', 'updated_at', at)
  redis.call('HDEL', jobkey, 'worker_id', 'started_at')  -- the lease stays: it numbers the claims
  redis.call('ZREM', P .. 'leases', job)
  push(m.lane, m.guild_id, m.user_id, job, tonumber(m.seq))
  return emit(job, 'requeued', at, data, m)
end
