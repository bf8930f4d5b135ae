-- Joins a registered connection to a room; a connection without a record (unknown, removed or expired)
-- joins nothing. Returns 1 when joined, 0 when the connection is not registered.

local record = KEYS[1]                 -- the connection's record hash
local rooms = KEYS[2]                  -- the connection's joined-rooms set
local members = KEYS[3]               -- the room's members set

local room = ARGV[1]
local connection_id = ARGV[2]
local ttl = ARGV[3]                    -- ms

if redis.call('EXISTS', record) == 0 then return 0 end
redis.call('SADD', rooms, room)
redis.call('SADD', members, connection_id)
redis.call('PEXPIRE', rooms, ttl)
redis.call('PEXPIRE', members, ttl)
return 1
