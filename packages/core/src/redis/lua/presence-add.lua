-- Adds a connection to a user's presence in a room.
-- KEYS[1] presence hash (userId -> member JSON)   KEYS[2] the user's connection set in the room
-- ARGV[1] userId   ARGV[2] member JSON   ARGV[3] connectionId   ARGV[4] TTL in ms ('0': none)
-- Returns 1 when the user was not present before (a presence "join" to announce), else 0.
-- Like the memory store, the member first seen is kept while the user stays present.
redis.call('SADD', KEYS[2], ARGV[3])
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return added
