-- Judges members' next requests against their limits, or reads their allowance.
-- ARGV: prefix, events_maxlen, mode, global_cap, then per member: guild, user, limits_json
--   mode 'check': like enqueue's judgement, and a refusal counts towards a cooldown; the
--     reply per member is {} (allowed) or the refusal {limit, used, cap, retry_at, detail
--     [, cooldown_until]} as in enqueue;
--   mode 'look': read only; the reply per member is {refusal-or-{}, state} with state
--     {now, active, tat, cool_until, strikes, guild_today, member_today, guild_waiting,
--     all_waiting, blocked_reason}.
-- Concurrent checks share one call (ScriptRunner.item), so the script loops over members.
local mode, global_cap = ARGV[3], tonumber(ARGV[4])
local now = now_s()
local day = math.floor(now / DAY)
local total = tonumber(redis.call('HGET', P .. 'depth', 'all') or '0')
local replies = {}
for i = 5, #ARGV, 3 do
  local guild, user = ARGV[i], ARGV[i + 1]
  local lim = cjson.decode(ARGV[i + 2])
  local in_guild = tonumber(redis.call('HGET', P .. 'depth', 'guild:' .. guild) or '0')
  local seen = {}
  local refusal, st = assess(lim, guild, user, now, in_guild, total, global_cap, seen)
  if mode == 'check' then
    if refusal then
      refusal = strike(refusal, lim, guild, user, st, now)
    end
    replies[#replies + 1] = refusal or {}
  else
    st = st or member_state(guild, user)
    if seen.guild_today == nil then
      seen.guild_today, seen.member_today = quota_counts(guild, user, day)
    end
    local state = {fmt(now), seen.active or redis.call('SCARD', P .. 'active:' .. guild .. ':' .. user),
      fmt(st.tat), fmt(st.cool_until), st.strikes, seen.guild_today, seen.member_today, in_guild, total,
      redis.call('HGET', P .. 'blocked:' .. guild, user) or ''}
    replies[#replies + 1] = {refusal or {}, state}
  end
end
return replies
