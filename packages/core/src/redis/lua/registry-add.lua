-- Registers a connection: its record, replacing any earlier one of that id (with no rooms joined), its
-- entries in the user and node sets, and its slot of the user's connection limit (taken by
-- registry-reserve.lua, or taken here), all with the record TTL. One script rather than a MULTI of
-- nine commands: a connect costs one command to build, send and parse.

local record = KEYS[1]                 -- the connection's record hash
local rooms = KEYS[2]                  -- the connection's joined-rooms set
local user_connections = KEYS[3]       -- the user's connection set
local node_connections = KEYS[4]       -- the node's connection set
local user_slots = KEYS[5]             -- the user's slots (sorted set by lapse time)

local ttl = ARGV[1]                    -- ms
local connection_id = ARGV[2]
local slot_lapses_at = ARGV[3]         -- ms: now plus the TTL
local FIRST_FIELD = 4                  -- ARGV[4..]: field, value, ... of the record

redis.call('DEL', record, rooms)
redis.call('HSET', record, unpack(ARGV, FIRST_FIELD))
redis.call('SADD', user_connections, connection_id)
redis.call('SADD', node_connections, connection_id)
redis.call('ZADD', user_slots, slot_lapses_at, connection_id)
redis.call('PEXPIRE', record, ttl)
redis.call('PEXPIRE', user_connections, ttl)
redis.call('PEXPIRE', node_connections, ttl)
redis.call('PEXPIRE', user_slots, ttl)
return 1
