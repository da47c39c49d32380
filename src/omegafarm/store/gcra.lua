-- GCRA with reservation, one round trip. Time comes from the server (TIME), so every host
-- agrees whatever its clock says. Times are integer microseconds; they are stored with
-- string.format('%.0f') because tostring() would write large numbers as 1.7e+15.
-- KEYS[1] bucket (theoretical arrival time), KEYS[2] cool-down key
-- ARGV[1] microseconds per unit, ARGV[2] burst in units, ARGV[3] cost in units,
-- ARGV[4] longest acceptable wait in microseconds (a longer wait reserves nothing)
-- Returns {wait_us, reserved (1/0), used_units_now * 1000}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_unit = tonumber(ARGV[1])
local burst_us = tonumber(ARGV[2]) * per_unit
local cost_us = tonumber(ARGV[3]) * per_unit
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost_us
local wait = new_tat - burst_us - now
if wait < 0 then wait = 0 end
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 and cool * 1000 > wait then wait = cool * 1000 end
if wait > max_wait then
  return {string.format('%.0f', wait), 0, string.format('%.0f', (tat - now) * 1000 / per_unit)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return {string.format('%.0f', wait), 1, string.format('%.0f', (new_tat - now) * 1000 / per_unit)}
