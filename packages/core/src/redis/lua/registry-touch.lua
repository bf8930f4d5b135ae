-- Re-arms the TTL of a live connection's keys: its record, its joined-rooms set, and the user, node and
-- room-members sets it is indexed in (built from ARGV[1], so: single Redis, not Cluster).
-- KEYS[1] record hash   KEYS[2] the connection's joined-rooms set
-- ARGV[1] key base (e.g. "cw:")   ARGV[2] TTL in ms
-- Returns 1 when the connection exists, else 0.
local base, ttl = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'userId', 'node')
if not f[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', base .. 'user:' .. f[1], ttl)
if f[2] then redis.call('PEXPIRE', base .. 'node:' .. f[2] .. ':conns', ttl) end
local joined = redis.call('SMEMBERS', KEYS[2])
for i = 1, #joined do
  redis.call('PEXPIRE', base .. 'members:{' .. joined[i] .. '}', ttl)
end
return 1
