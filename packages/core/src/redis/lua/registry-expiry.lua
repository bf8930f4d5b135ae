-- Sets a registered connection's token expiry (an in-band refresh); a connection without a record
-- (unknown, removed or expired) is not recreated. Returns 1 when set, 0 when the connection is not registered.

local record = KEYS[1]                 -- the connection's record hash

local expires_at = ARGV[1]             -- epoch ms

if redis.call('EXISTS', record) == 0 then return 0 end
redis.call('HSET', record, 'expiresAt', expires_at)
return 1
