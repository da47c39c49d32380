-- Set a shared cool-down of ARGV[1] milliseconds unless a longer one is already running.
local current = redis.call('PTTL', KEYS[1])
local wanted = tonumber(ARGV[1])
if current < wanted then
  redis.call('SET', KEYS[1], '1', 'PX', wanted)
  return wanted
end
return current
