-- ARGV: prefix, events_maxlen, job_id, request_id, lane, guild, user, global_cap,
--       guild_cap, field1, value1, ...  (the record's hash fields)
-- Returns {'ok', job_id, created_at} | {'replay', job_id} | {'full_global', depth, cap}
--       | {'full_guild', depth, cap} | {'id_taken'}
local job, req, lane, guild, user = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local global_cap, guild_cap = tonumber(ARGV[8]), tonumber(ARGV[9])
local existing = redis.call('GET', P .. 'req:' .. req)
if existing then
  return {'replay', existing}
end
local d = P .. 'depth'
local total = tonumber(redis.call('HGET', d, 'all') or '0')
if global_cap > 0 and total >= global_cap then
  return {'full_global', total, global_cap}
end
local in_guild = tonumber(redis.call('HGET', d, 'guild:' .. guild) or '0')
if guild_cap > 0 and in_guild >= guild_cap then
  return {'full_guild', in_guild, guild_cap}
end
local jobkey = P .. 'job:' .. job
if redis.call('EXISTS', jobkey) == 1 then
  return {'id_taken'}
end
local now = now_s()
local seq = redis.call('INCR', P .. 'seq')
local fields = {}
for i = 10, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', jobkey, unpack(fields))
redis.call('HSET', jobkey, 'status', 'queued', 'created_at', fmt(now), 'updated_at', fmt(now),
  'seq', seq, 'lane', lane)
redis.call('SET', P .. 'req:' .. req, job)
push(lane, guild, user, job, seq)
return {'ok', job, fmt(now)}
