-- Removes a connection: its record, its joined-rooms set, and its entries in the members, user and node
-- sets. The caller read the record's user and node and the joined rooms, and passes their keys; when
-- they changed since (a join raced the removal) nothing is removed and the caller reads again.
-- Returns 0 when they changed, nil when there was no record, else {userId, name, role, rooms,
-- expiresAt, connectedAt, node, joinedRoom...}.

local record = KEYS[1]                 -- the connection's record hash
local rooms = KEYS[2]                  -- the connection's joined-rooms set
local user_connections = KEYS[3]       -- the user's connection set (any key when there is no user)
local node_connections = KEYS[4]       -- the node's connection set (any key when there is no node)
local FIRST_MEMBERS = 5                -- KEYS[5..]: the members sets of the joined rooms, in ARGV order

local connection_id = ARGV[1]
local expected_user = ARGV[2]          -- '' when the caller found no record
local expected_node = ARGV[3]
local FIRST_ROOM = 4                   -- ARGV[4..]: the joined rooms the caller read

local f = redis.call('HMGET', record, 'userId', 'name', 'role', 'rooms', 'expiresAt', 'connectedAt', 'node')
if (f[1] or '') ~= expected_user or (f[7] or '') ~= expected_node then return 0 end
if redis.call('SCARD', rooms) ~= #ARGV - FIRST_ROOM + 1 then return 0 end
for i = FIRST_ROOM, #ARGV do
  if redis.call('SISMEMBER', rooms, ARGV[i]) == 0 then return 0 end
end

redis.call('DEL', record, rooms)
for i = FIRST_MEMBERS, #KEYS do
  redis.call('SREM', KEYS[i], connection_id)
end
if not f[1] then return false end
redis.call('SREM', user_connections, connection_id)
if f[7] then redis.call('SREM', node_connections, connection_id) end
local out = {}
for i = 1, 7 do out[i] = f[i] or '' end
for i = FIRST_ROOM, #ARGV do out[#out + 1] = ARGV[i] end
return out
