-- Joins a registered connection to a room; a connection without a record (unknown, removed or expired)
-- joins nothing.
-- KEYS[1] record hash   KEYS[2] the connection's joined-rooms set   KEYS[3] the room's members set
-- ARGV[1] room   ARGV[2] connectionId   ARGV[3] TTL in ms
-- Returns 1 when joined, 0 when the connection is not registered.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ttl = ARGV[3]
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
