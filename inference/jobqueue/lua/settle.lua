-- Charges or refunds a succeeded job's daily-quota hold, once. The bot calls it when it
-- has posted the clip (charged) or has given up posting it (refunded).
-- ARGV: prefix, events_maxlen, job, outcome ('charged' | 'refunded')
-- Returns {'ok'} | {'already', state} (settled before, or never held) | {'not_done', status}
--   | {'missing'}
local job, outcome = ARGV[3], ARGV[4]
local jobkey = P .. 'job:' .. job
local m = meta(jobkey)
if not m.status then
  return {'missing'}
end
if m.quota ~= 'held' then
  return {'already', m.quota or ''}
end
if m.status ~= 'succeeded' then
  return {'not_done', m.status}
end
settle_quota(jobkey, m, outcome)
return {'ok'}
