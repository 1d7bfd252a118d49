-- Corrects the shared view of a (portal, app type) from one HubSpot answer.
--
-- KEYS as in acquire.lua.
-- ARGV[1] X-HubSpot-RateLimit-Max (0 = absent)   ARGV[2] -Interval-Milliseconds (0 = absent)
-- ARGV[3] -Remaining (-1 = absent)               ARGV[4] -Daily (0 = absent)
-- ARGV[5] -Daily-Remaining (-1 = absent)         ARGV[6] 429 policy: "", "TEN_SECONDLY_ROLLING",
--         "DAILY" or another name                ARGV[7] ms until the portal's local midnight
-- ARGV[8] window padding, ms   ARGV[9] configured window, ms   ARGV[10] unique id for phantoms
-- ARGV[11] how long observed limits are trusted, ms
--
-- Returns {pause_until_ms (0 = none), phantoms_added}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local remaining = tonumber(ARGV[3])
local daily = tonumber(ARGV[4])
local daily_remaining = tonumber(ARGV[5])
local policy = ARGV[6]
local ttl = tonumber(ARGV[11])

if max > 0 then redis.call('HSET', KEYS[4], 'max', max) end
if interval > 0 then redis.call('HSET', KEYS[4], 'interval', interval) end
if daily > 0 then redis.call('HSET', KEYS[4], 'daily', daily) end
if max > 0 or interval > 0 or daily > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end

local window = interval
if window <= 0 then
  window = tonumber(redis.call('HGET', KEYS[4], 'interval') or ARGV[9])
end

-- HubSpot counted more calls in its window than we granted: someone else (or a lost log) used
-- them. Record the difference as permits granted now, which only ever makes us slower.
local added = 0
if max > 0 and remaining >= 0 then
  local padded = window + tonumber(ARGV[8])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - padded)
  local used = max - remaining
  local n = redis.call('ZCARD', KEYS[1])
  if used > n then
    for i = 1, used - n do
      redis.call('ZADD', KEYS[1], now, 'p:' .. ARGV[10] .. ':' .. i)
    end
    added = used - n
    redis.call('PEXPIRE', KEYS[1], padded + 1000)
  end
end

if daily > 0 and daily_remaining >= 0 then
  local used = daily - daily_remaining
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used > cur then
    redis.call('SET', KEYS[2], used, 'PX', 172800000)
  end
end

local pause_until = 0
local reason = ''
if policy == 'DAILY' then
  pause_until = now + tonumber(ARGV[7])
  reason = 'daily'
elseif policy ~= '' then
  -- TEN_SECONDLY_ROLLING (or an unknown policy): wait out a whole window.
  pause_until = now + window + tonumber(ARGV[8])
  reason = 'window'
end
if pause_until > 0 then
  local cur = redis.call('GET', KEYS[3])
  local cur_until = cur and tonumber(string.match(cur, '^(%d+)')) or 0
  if pause_until > cur_until then
    redis.call('SET', KEYS[3], pause_until .. ':' .. reason, 'PX', pause_until - now)
  else
    pause_until = cur_until
  end
end
return {pause_until, added}
