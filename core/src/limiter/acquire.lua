-- Grants one permit for a (portal, app type), atomically, on Redis' own clock.
-- A sliding-window log: every granted permit is a member of KEYS[1] scored by its grant time.
--
-- KEYS[1] window log (zset)   KEYS[2] today's call counter   KEYS[3] pause ("<until_ms>:<reason>")
-- KEYS[4] observed limits (hash: max, interval, daily)
-- ARGV[1] configured calls per window   ARGV[2] configured window, ms   ARGV[3] safety margin (0..1)
-- ARGV[4] window padding, ms            ARGV[5] configured daily limit (0 = none)
-- ARGV[6] ms until the portal's local midnight   ARGV[7] unique member id
--
-- Returns {1, granted_at_ms, permits_left_in_window, calls_today}
--      or {0, wait_ms, reason, detail} with reason "pause" | "daily" | "window".
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local pause = redis.call('GET', KEYS[3])
if pause then
  local until_ms = tonumber(string.match(pause, '^(%d+)'))
  if until_ms and until_ms > now then
    return {0, until_ms - now, 'pause', pause}
  end
end

local margin = tonumber(ARGV[3])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local daily = tonumber(ARGV[5])
local obs = redis.call('HMGET', KEYS[4], 'max', 'interval', 'daily')
if obs[1] then limit = tonumber(obs[1]) end
if obs[2] then window = tonumber(obs[2]) end
if obs[3] then daily = tonumber(obs[3]) end

local used_today = tonumber(redis.call('GET', KEYS[2]) or '0')
if daily > 0 then
  local daily_eff = math.max(1, math.floor(daily * (1 - margin)))
  if used_today >= daily_eff then
    return {0, tonumber(ARGV[6]), 'daily', tostring(used_today)}
  end
end

local eff = math.max(1, math.floor(limit * (1 - margin)))
window = window + tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= eff then
  -- the permit that must leave the window before one is free again
  local e = redis.call('ZRANGE', KEYS[1], n - eff, n - eff, 'WITHSCORES')
  local wait = tonumber(e[2]) + window - now + 1
  if wait < 1 then wait = 1 end
  return {0, wait, 'window', tostring(n)}
end

redis.call('ZADD', KEYS[1], now, ARGV[7])
redis.call('PEXPIRE', KEYS[1], window + 1000)
local today = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 172800000)
return {1, now, eff - n - 1, today}
