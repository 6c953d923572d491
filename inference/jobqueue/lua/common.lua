-- Shared helpers, prepended to every Reelbot queue script.
-- Every script gets the key prefix (ARGV[1]) and builds the keys named in
-- inference/contract.py (Keys); all of them share one Redis Cluster hash tag.
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

-- counters that vanish at zero, so an empty queue leaves no keys behind
local function hdecr(key, field)
  if redis.call('HINCRBY', key, field, -1) <= 0 then
    redis.call('HDEL', key, field)
  end
end

local function depth_add(lane, guild, n)
  local d = P .. 'depth'
  local state = lane_key(lane) .. ':state'
  if n > 0 then
    redis.call('HINCRBY', d, 'all', 1)
    redis.call('HINCRBY', d, 'lane:' .. lane, 1)
    redis.call('HINCRBY', d, 'guild:' .. guild, 1)
    redis.call('HINCRBY', state, 'gd:' .. guild, 1)
  else
    hdecr(d, 'all')
    hdecr(d, 'lane:' .. lane)
    hdecr(d, 'guild:' .. guild)
    hdecr(state, 'gd:' .. guild)
  end
end

-- Put a job in its member's queue; a member or guild that had nothing queued enters
-- the round-robin at the lane's current virtual time (no credit for idle time).
local function push(lane, guild, user, job, seq)
  local L = lane_key(lane)
  local state = L .. ':state'
  local users = L .. ':g:' .. guild .. ':users'
  redis.call('ZADD', L .. ':g:' .. guild .. ':u:' .. user, seq, job)
  if not redis.call('ZSCORE', users, user) then
    redis.call('ZADD', users, redis.call('HGET', state, 'vt:' .. guild) or 0, user)
  end
  if not redis.call('ZSCORE', L .. ':guilds', guild) then
    redis.call('ZADD', L .. ':guilds', redis.call('HGET', state, 'vt') or 0, guild)
  end
  depth_add(lane, guild, 1)
  redis.call('LPUSH', L .. ':wake', '1')
  redis.call('LTRIM', L .. ':wake', 0, 0)
  redis.call('EXPIRE', L .. ':wake', 60)
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
      redis.call('HDEL', L .. ':state', 'vt:' .. guild)
    end
  end
  depth_add(lane, guild, -1)
  return true
end

local function emit(jobkey, job, etype, at, data)
  local f = redis.call('HMGET', jobkey, 'guild_id', 'channel_id', 'user_id', 'attempts')
  return redis.call('XADD', P .. 'events', 'MAXLEN', '~', ARGV[2], '*',
    'v', '1', 'type', etype, 'job', job, 'guild', f[1], 'channel', f[2], 'user', f[3],
    'at', fmt(at), 'attempt', f[4] or '0', 'data', data or '{}')
end

-- End a job for good: terminal status, retention TTL on its keys, a final event.
local function finalize(jobkey, job, status, at, retention, data, extra)
  redis.call('HSET', jobkey, 'status', status, 'updated_at', fmt(at), 'finished_at', fmt(at))
  if extra then
    redis.call('HSET', jobkey, unpack(extra))
  end
  redis.call('HDEL', jobkey, 'lease')
  redis.call('ZREM', P .. 'leases', job)
  redis.call('EXPIRE', jobkey, retention)
  local req = redis.call('HGET', jobkey, 'request_id')
  if req then
    redis.call('EXPIRE', P .. 'req:' .. req, retention)
  end
  return emit(jobkey, job, status, at, data)
end
