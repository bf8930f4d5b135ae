-- Registers a connection: its record, replacing any earlier one of that id (with no rooms joined), and
-- its entries in the user and node sets, all with the record TTL. One script rather than a MULTI of
-- eight commands: a connect costs one command to build, send and parse.
-- KEYS[1] record hash   KEYS[2] the connection's joined-rooms set   KEYS[3] the user's set
-- KEYS[4] the node's set
-- ARGV[1] TTL in ms   ARGV[2] connectionId   ARGV[3..] field, value, ... of the record
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[1])
return 1
