-- Move a GCRA bucket forward so that at most ARGV[3] units remain available right now
-- (the exchange told us how much it has counted). Never moves it backward.
-- KEYS[1] bucket; ARGV[1] microseconds per unit, ARGV[2] burst in units, ARGV[3] remaining units
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_unit = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local remaining = tonumber(ARGV[3])
if remaining < 0 then remaining = 0 end
if remaining > burst then return 0 end
local target = now + (burst - remaining) * per_unit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > tat then
  redis.call('SET', KEYS[1], string.format('%.0f', target), 'PX', math.floor((target - now) / 1000) + 1000)
  return 1
end
return 0
