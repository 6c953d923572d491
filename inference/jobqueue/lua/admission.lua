-- Member limits, prepended to the scripts that admit jobs (enqueue) or look at a member's
-- allowance (limits). The limits arrive as JSON built by inference/jobqueue/admission.py:
--   rate, rate_period   jobs per period (GCRA: a burst of `rate`, then one per period/rate)
--   active              the member's jobs waiting or running at once
--   member_daily        clips a member may be delivered per UTC day
--   guild_daily         clips the guild may be delivered per UTC day
--   guild_queue         the guild's waiting jobs
--   strikes, strike_window, cooldown, cooldown_max
--                       `strikes` refusals within `strike_window` seconds start a cooldown of
--                       `cooldown` seconds that doubles with each further refusal
--   exempt              skip every per-member limit and the daily quotas
--   need, need_jobs     optional: what the whole request needs to be free (clips for the rate
--                       and quotas, jobs for the active limit); several takes are judged
--                       together on their first job, so either all of them fit or none is taken
--   cost                optional: the clips this job counts as (a 10 s clip is 2)
-- 0 turns a limit off. The daily quotas count clips delivered plus clips in flight (held):
-- a hold is taken at admission, refunded when the job fails or is cancelled (finalize), and
-- charged by the bot when it posts the clip (settle.lua).
local DAY = 86400

local function member_state_key(guild, user)
  return P .. 'limits:' .. guild .. ':' .. user
end

-- A member's rate, strike and cooldown state, read in one call.
local function member_state(guild, user)
  local s = redis.call('HMGET', member_state_key(guild, user), 'tat', 'strikes', 'strike_at', 'cool_until')
  return {tat = tonumber(s[1]) or 0, strikes = tonumber(s[2]) or 0, strike_at = tonumber(s[3]) or 0,
    cool_until = tonumber(s[4]) or 0}
end

-- Write the member's state back with a TTL that outlives everything it remembers.
local function save_member_state(guild, user, st, lim, now)
  local key = member_state_key(guild, user)
  redis.call('HSET', key, 'tat', fmt(st.tat), 'strikes', st.strikes, 'strike_at', fmt(st.strike_at),
    'cool_until', fmt(st.cool_until))
  local keep = math.max(st.tat - now, st.cool_until - now, (lim.strike_window or 0), 1)
  redis.call('EXPIRE', key, math.ceil(keep) + 60)
end

local function quota_counts(guild, user, day)
  local q = redis.call('HMGET', quota_key(guild, day), 'held', 'used', 'held:' .. user, 'used:' .. user)
  return (tonumber(q[1]) or 0) + (tonumber(q[2]) or 0), (tonumber(q[3]) or 0) + (tonumber(q[4]) or 0)
end

-- Judge a request against the limits without changing anything.
-- Returns nil when it may be admitted, else {limit, used, cap, retry_at, detail} (retry_at
-- formatted, '0' when unknown); also the member's state and, when admitted, the rate
-- limit's next theoretical arrival time and the UTC day number. What it read on the way
-- is left in `seen` (active, guild_today, member_today) for callers that report it.
local function assess(lim, guild, user, now, in_guild, total, global_cap, seen)
  local st = nil  -- read only for a member the per-member limits apply to
  seen = seen or {}
  local blocked = redis.call('HGET', P .. 'blocked:' .. guild, user)
  if blocked then
    return {'blocked', 0, 0, '0', blocked}, st
  end
  local day = math.floor(now / DAY)
  local reset = (day + 1) * DAY
  local new_tat = nil
  local need, need_jobs, cost = lim.need or 1, lim.need_jobs or 1, lim.cost or 1
  if lim.exempt ~= 1 then
    st = member_state(guild, user)
    if st.cool_until > now then
      return {'cooldown', st.strikes, lim.strikes, fmt(st.cool_until), ''}, st
    end
    if lim.active > 0 then
      local n = redis.call('SCARD', P .. 'active:' .. guild .. ':' .. user)
      seen.active = n
      if n + need_jobs > lim.active then
        return {'active', n, lim.active, '0', ''}, st
      end
    end
    if lim.rate > 0 then
      local interval = lim.rate_period / lim.rate
      local tat = math.max(st.tat, now)
      local needed_tat = tat + need * interval
      new_tat = tat + cost * interval
      if needed_tat - now > lim.rate_period + 1e-6 then
        local used = math.min(lim.rate, math.ceil((tat - now) / interval - 1e-6))
        return {'rate', used, lim.rate, fmt(needed_tat - lim.rate_period), ''}, st
      end
    end
    if lim.member_daily > 0 or lim.guild_daily > 0 then
      local in_guild_today, mine_today = quota_counts(guild, user, day)
      seen.guild_today, seen.member_today = in_guild_today, mine_today
      if lim.member_daily > 0 and mine_today + need > lim.member_daily then
        return {'member_daily', mine_today, lim.member_daily, fmt(reset), ''}, st
      end
      if lim.guild_daily > 0 and in_guild_today + need > lim.guild_daily then
        return {'guild_daily', in_guild_today, lim.guild_daily, fmt(reset), ''}, st
      end
    end
  end
  if lim.guild_queue > 0 and in_guild + need_jobs > lim.guild_queue then
    return {'guild_queue', in_guild, lim.guild_queue, '0', ''}, st
  end
  if global_cap > 0 and total + need_jobs > global_cap then
    return {'global_queue', total, global_cap, '0', ''}, st
  end
  return nil, st, new_tat, day
end

-- Count a refusal the member caused; enough of them in a row start (and lengthen) a cooldown.
-- Returns the refusal, with the cooldown's end appended when this refusal started or
-- lengthened one.
local MEMBER_CAUSED = {cooldown = true, active = true, rate = true}

local function strike(refusal, lim, guild, user, st, now)
  if lim.strikes <= 0 or not MEMBER_CAUSED[refusal[1]] then
    return refusal
  end
  if now - st.strike_at > lim.strike_window then
    st.strikes = 0
  end
  st.strikes = st.strikes + 1
  st.strike_at = now
  if st.strikes >= lim.strikes then
    local cool = math.min(lim.cooldown * 2 ^ (st.strikes - lim.strikes), lim.cooldown_max)
    if now + cool > st.cool_until then
      st.cool_until = now + cool
      refusal[6] = fmt(st.cool_until)
    end
  end
  save_member_state(guild, user, st, lim, now)
  return refusal
end

-- Take what an admitted job uses: a rate slot, a place among the member's active jobs and
-- a daily-quota hold. Returns the job hash fields that let finalize give them back.
local function admit(lim, guild, user, job, st, new_tat, day, now)
  if lim.exempt == 1 then
    return {}
  end
  if new_tat then
    st.tat = new_tat
    save_member_state(guild, user, st, lim, now)
  end
  redis.call('SADD', P .. 'active:' .. guild .. ':' .. user, job)
  local fields = {'tracked', '1'}
  local cost = lim.cost or 1
  if cost ~= 1 then
    fields[#fields + 1] = 'units'
    fields[#fields + 1] = tostring(cost)
  end
  if lim.member_daily > 0 or lim.guild_daily > 0 then
    local q = quota_key(guild, day)
    redis.call('HINCRBY', q, 'held', cost)
    redis.call('HINCRBY', q, 'held:' .. user, cost)
    redis.call('EXPIRE', q, 2 * DAY)
    fields[#fields + 1] = 'quota'
    fields[#fields + 1] = 'held'
    fields[#fields + 1] = 'quota_day'
    fields[#fields + 1] = tostring(day)
  end
  return fields
end
