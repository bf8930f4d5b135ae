-- The ids in an index set whose connection still exists (and still matches the index); the others
-- (expired or removed records, stale entries) are removed from the set.
-- KEYS[1] the index set (members of a room, connections of a user or of a node)
-- ARGV[1] record key base (e.g. "cw:conn:", including any client keyPrefix)
-- ARGV[2] mode: 'joined' (ARGV[3] is a room the connection must have joined) or 'field' (the record's
--         field ARGV[3] must equal ARGV[4])
local base, mode = ARGV[1], ARGV[2]
local ids = redis.call('SMEMBERS', KEYS[1])
local alive = {}
for i = 1, #ids do
  local id = ids[i]
  local ok
  if mode == 'joined' then
    ok = redis.call('EXISTS', base .. id) == 1 and redis.call('SISMEMBER', base .. id .. ':rooms', ARGV[3]) == 1
  else
    ok = redis.call('HGET', base .. id, ARGV[3]) == ARGV[4]
  end
  if ok then alive[#alive + 1] = id else redis.call('SREM', KEYS[1], id) end
end
return alive
