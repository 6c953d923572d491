-- ARGV: prefix, events_maxlen (unused), job
-- Estimates how many queued jobs will be claimed before this one, replaying the fair
-- round-robin with unit weights. Returns {'ok', ahead, lane_depth, lane} | {status} when the
-- job is not queued | {'missing'}.
local job = ARGV[3]
local f = redis.call('HMGET', P .. 'job:' .. job, 'status', 'lane', 'guild_id', 'user_id')
if not f[1] then
  return {'missing'}
end
if f[1] ~= 'queued' then
  return {f[1]}
end
local lane, guild, user = f[2], f[3], f[4]
local L = lane_key(lane)
local eps = 1e-9

-- claims a peer with pass `p` and `depth` jobs gets before the one at target pass `t`
local function before(p, depth, t, peer, me)
  local n = math.ceil(t - p - eps)
  if n < 0 then n = 0 end
  local frac = t - p - n
  if math.abs(frac) < eps and t - p >= -eps and peer < me then
    n = n + 1
  end
  if n > depth then n = depth end
  return n
end

local mine = redis.call('ZRANK', L .. ':g:' .. guild .. ':u:' .. user, job)
local users = redis.call('ZRANGE', L .. ':g:' .. guild .. ':users', 0, -1, 'WITHSCORES')
local upass = tonumber(redis.call('ZSCORE', L .. ':g:' .. guild .. ':users', user))
local in_guild = mine
for i = 1, #users, 2 do
  if users[i] ~= user then
    local depth = redis.call('ZCARD', L .. ':g:' .. guild .. ':u:' .. users[i])
    in_guild = in_guild + before(tonumber(users[i + 1]), depth, upass + mine, users[i], user)
  end
end
local gpass = tonumber(redis.call('ZSCORE', L .. ':guilds', guild))
local ahead = in_guild
local guilds = redis.call('ZRANGE', L .. ':guilds', 0, -1, 'WITHSCORES')
for i = 1, #guilds, 2 do
  if guilds[i] ~= guild then
    local depth = tonumber(redis.call('HGET', L .. ':depth', 'gd:' .. guilds[i]) or '0')
    ahead = ahead + before(tonumber(guilds[i + 1]), depth, gpass + in_guild, guilds[i], guild)
  end
end
local lane_depth = 0
for _, n in ipairs(redis.call('HVALS', L .. ':depth')) do
  lane_depth = lane_depth + (tonumber(n) or 0)
end
return {'ok', ahead, lane_depth, lane}
