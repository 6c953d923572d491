-- Judges a member's next request against their limits, or reads their allowance.
-- ARGV: prefix, events_maxlen, mode, guild, user, limits_json, global_cap
--   mode 'check': like enqueue's judgement, and a refusal counts towards a cooldown;
--   mode 'look': read only.
-- Returns {refusal, state}: refusal is {} or {limit, used, cap, retry_at, detail
-- [, cooldown_until]} as in enqueue; state is {now, active, tat, cool_until, strikes,
-- guild_today, member_today, guild_waiting, all_waiting, blocked_reason}.
local mode, guild, user, global_cap = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[7])
local lim = cjson.decode(ARGV[6])
local now = now_s()
local depth = redis.call('HMGET', P .. 'depth', 'all', 'guild:' .. guild)
local total, in_guild = tonumber(depth[1] or '0'), tonumber(depth[2] or '0')
local refusal, st = assess(lim, guild, user, now, in_guild, total, global_cap)
if refusal and mode == 'check' then
  refusal = strike(refusal, lim, guild, user, st, now)
end
st = st or member_state(guild, user)
local guild_today, member_today = quota_counts(guild, user, math.floor(now / DAY))
local state = {fmt(now), redis.call('SCARD', P .. 'active:' .. guild .. ':' .. user), fmt(st.tat),
  fmt(st.cool_until), st.strikes, guild_today, member_today, in_guild, total,
  redis.call('HGET', P .. 'blocked:' .. guild, user) or ''}
return {refusal or {}, state}
