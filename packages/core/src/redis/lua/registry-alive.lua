-- Which of the given ids of an index set still have a connection that matches the index; the others
-- (expired or removed records, stale entries) are removed from the set. The caller read the set's ids
-- and passes each one's keys, so this script builds no key.
-- Returns the ids that are alive, in ARGV order.

local index = KEYS[1]                  -- the index set (members of a room, connections of a user or a node)
-- KEYS[2..]: per id, its record hash, and in mode 'joined' also its joined-rooms set

local mode = ARGV[1]                   -- 'joined': the connection joined the room ARGV[2]
                                       -- 'field': the record's field ARGV[2] equals ARGV[3]
local room_or_field = ARGV[2]
local field_value = ARGV[3]
local FIRST_ID = 4                     -- ARGV[4..]: the ids

local keys_per_id = mode == 'joined' and 2 or 1
local alive = {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local record = KEYS[2 + (i - FIRST_ID) * keys_per_id]
  local ok
  if mode == 'joined' then
    local rooms = KEYS[3 + (i - FIRST_ID) * keys_per_id]
    ok = redis.call('EXISTS', record) == 1 and redis.call('SISMEMBER', rooms, room_or_field) == 1
  else
    ok = redis.call('HGET', record, room_or_field) == field_value
  end
  if ok then alive[#alive + 1] = id else redis.call('SREM', index, id) end
end
return alive
