-- Enqueues one or more jobs. ARGV: prefix, events_maxlen, global_cap, guild_cap,
-- request_ttl, then per job: job_id, request_id, lane, guild, user, channel, weight,
-- max_attempts, spec_json. The hash written is JobRecord.to_fields() of a fresh job (the
-- contract tests read it back). The request id is remembered for request_ttl seconds,
-- far longer than Discord replays an interaction.
-- Returns one reply per job, in order: {'ok', job_id, created_at} | {'replay', job_id}
--   | {'full_global', depth, cap} | {'full_guild', depth, cap} | {'id_taken'}
local global_cap, guild_cap, request_ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = fmt(now_s())
local replies = {}
local i = 6
while i <= #ARGV do
  local job, req, lane, guild, user = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local reply
  local existing = redis.call('GET', P .. 'req:' .. req)
  if existing then
    reply = {'replay', existing}
  else
    local depth = redis.call('HMGET', P .. 'depth', 'all', 'guild:' .. guild)
    local total, in_guild = tonumber(depth[1] or '0'), tonumber(depth[2] or '0')
    local jobkey = P .. 'job:' .. job
    if global_cap > 0 and total >= global_cap then
      reply = {'full_global', total, global_cap}
    elseif guild_cap > 0 and in_guild >= guild_cap then
      reply = {'full_guild', in_guild, guild_cap}
    elseif redis.call('EXISTS', jobkey) == 1 then
      reply = {'id_taken'}
    else
      local seq = redis.call('INCR', P .. 'seq')
      redis.call('HSET', jobkey, 'v', '1', 'id', job, 'request_id', req, 'guild_id', guild,
        'user_id', user, 'channel_id', ARGV[i + 5], 'weight', ARGV[i + 6],
        'max_attempts', ARGV[i + 7], 'spec', ARGV[i + 8], 'attempts', '0', 'cancel_requested', '0',
        'status', 'queued', 'created_at', now, 'updated_at', now, 'seq', seq, 'lane', lane)
      redis.call('SET', P .. 'req:' .. req, job, 'EX', request_ttl)
      push(lane, guild, user, job, seq)
      reply = {'ok', job, now}
    end
  end
  replies[#replies + 1] = reply
  i = i + 9
end
return replies
