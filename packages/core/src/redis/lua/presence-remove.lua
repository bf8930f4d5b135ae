-- Removes a connection from a user's presence in a room.
-- KEYS[1] presence hash   KEYS[2] the user's connection set in the room
-- ARGV[1] userId   ARGV[2] connectionId
-- Returns 1 when that was the user's last connection (a presence "leave" to announce), else 0; an
-- unknown room, user or connection changes nothing and returns 0.
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
