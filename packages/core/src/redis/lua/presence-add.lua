-- Adds a connection to a user's presence in a room.
-- Returns 1 when the user was not present before (a presence "join" to announce), else 0.
-- Like the memory store, the member first seen is kept while the user stays present.

local presence = KEYS[1]               -- the room's presence hash (userId -> member JSON)
local connections = KEYS[2]            -- the user's connection set in the room

local user_id = ARGV[1]
local member_json = ARGV[2]
local connection_id = ARGV[3]
local ttl = tonumber(ARGV[4])          -- ms; 0: none

redis.call('SADD', connections, connection_id)
local added = redis.call('HSETNX', presence, user_id, member_json)
if ttl and ttl > 0 then
  redis.call('PEXPIRE', presence, ttl)
  redis.call('PEXPIRE', connections, ttl)
end
return added
