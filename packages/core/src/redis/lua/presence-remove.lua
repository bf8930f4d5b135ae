-- Removes a connection from a user's presence in a room.
-- Returns 1 when that was the user's last connection (a presence "leave" to announce), else 0; an
-- unknown room, user or connection changes nothing and returns 0.

local presence = KEYS[1]               -- the room's presence hash
local connections = KEYS[2]            -- the user's connection set in the room

local user_id = ARGV[1]
local connection_id = ARGV[2]

if redis.call('SREM', connections, connection_id) == 0 then return 0 end
if redis.call('SCARD', connections) > 0 then return 0 end
redis.call('HDEL', presence, user_id)
return 1
