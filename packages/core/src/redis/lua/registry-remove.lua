-- Removes a connection: its record, its joined-rooms set, and its entries in the members, user and
-- node sets. The index keys are derived from the record, so they are built here from ARGV[1] (the full
-- key prefix, including any client keyPrefix); this script is for a single Redis, not Cluster.
-- KEYS[1] record hash   KEYS[2] the connection's joined-rooms set
-- ARGV[1] key base (e.g. "cw:")   ARGV[2] connectionId
-- Returns nil when there was no record, else {userId, name, role, rooms, expiresAt, connectedAt, node,
-- joinedRoom...}.
local base, id = ARGV[1], ARGV[2]
local f = redis.call('HMGET', KEYS[1], 'userId', 'name', 'role', 'rooms', 'expiresAt', 'connectedAt', 'node')
local joined = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
for i = 1, #joined do
  redis.call('SREM', base .. 'members:{' .. joined[i] .. '}', id)
end
if not f[1] then return false end
redis.call('SREM', base .. 'user:' .. f[1], id)
if f[7] then redis.call('SREM', base .. 'node:' .. f[7] .. ':conns', id) end
local out = {}
for i = 1, 7 do out[i] = f[i] or '' end
for i = 1, #joined do out[7 + i] = joined[i] end
return out
