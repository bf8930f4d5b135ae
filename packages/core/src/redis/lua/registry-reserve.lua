-- Takes one of a user's connection slots for a connection, counting and taking in one step, so that
-- concurrent connects of one user (on any node) never exceed the limit. Slots past their lapse time
-- (reservations whose connect never registered, records of a dead node) are dropped first.
-- Returns 1 when the connection holds a slot, 0 when the user's slots are all taken.

local slots = KEYS[1]                  -- the user's slots: sorted set, connection id scored by lapse time

local now = tonumber(ARGV[1])          -- ms
local lapses_at = ARGV[2]              -- ms: when this reservation lapses unless the connection registers
local max = tonumber(ARGV[3])
local connection_id = ARGV[4]
local key_ttl = ARGV[5]                -- ms: the key outlives every slot in it

redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
if redis.call('ZSCORE', slots, connection_id) then return 1 end
if redis.call('ZCARD', slots) >= max then return 0 end
redis.call('ZADD', slots, lapses_at, connection_id)
redis.call('PEXPIRE', slots, key_ttl)
return 1
