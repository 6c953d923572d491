-- Enqueues one or more jobs. ARGV: prefix, events_maxlen, global_cap, guild_cap,
-- request_ttl, then per job: job_id, request_id, lane, guild, user, channel, weight,
-- max_attempts, spec_json, limits_json. The hash written is JobRecord.to_fields() of a
-- fresh job (the contract tests read it back) plus the queue's own fields. The request id
-- is remembered for request_ttl seconds, far longer than Discord replays an interaction.
-- limits_json (admission.lua) is '' for a job admitted without member limits: then only
-- the block list and the queue caps (guild_cap, global_cap) apply.
-- Returns one reply per job, in order: {'ok', job_id, created_at} | {'replay', job_id}
--   | {'refused', limit, used, cap, retry_at, detail[, cooldown_until]} | {'id_taken'}
local global_cap, guild_cap, request_ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = now_s()
local at = fmt(now)
local no_limits = {exempt = 1, guild_queue = guild_cap, strikes = 0}
local replies = {}
local i = 6
while i <= #ARGV do
  local job, req, lane, guild, user = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local reply
  local existing = redis.call('GET', P .. 'req:' .. req)
  local jobkey = P .. 'job:' .. job
  if existing then
    reply = {'replay', existing}
  elseif redis.call('EXISTS', jobkey) == 1 then
    reply = {'id_taken'}
  else
    local lim = no_limits
    if ARGV[i + 9] ~= '' then
      lim = cjson.decode(ARGV[i + 9])
    end
    local depth = redis.call('HMGET', P .. 'depth', 'all', 'guild:' .. guild)
    local total, in_guild = tonumber(depth[1] or '0'), tonumber(depth[2] or '0')
    local refusal, st, new_tat, day = assess(lim, guild, user, now, in_guild, total, global_cap)
    if refusal then
      reply = strike(refusal, lim, guild, user, st, now)
      table.insert(reply, 1, 'refused')
    else
      local seq = redis.call('INCR', P .. 'seq')
      local held = admit(lim, guild, user, job, st, new_tat, day, now)
      redis.call('HSET', jobkey, 'v', '1', 'id', job, 'request_id', req, 'guild_id', guild,
        'user_id', user, 'channel_id', ARGV[i + 5], 'weight', ARGV[i + 6],
        'max_attempts', ARGV[i + 7], 'spec', ARGV[i + 8], 'attempts', '0', 'cancel_requested', '0',
        'status', 'queued', 'created_at', at, 'updated_at', at, 'seq', seq, 'lane', lane, unpack(held))
      redis.call('SET', P .. 'req:' .. req, job, 'EX', request_ttl)
      push(lane, guild, user, job, seq)
      reply = {'ok', job, at}
    end
  end
  replies[#replies + 1] = reply
  i = i + 10
end
return replies
