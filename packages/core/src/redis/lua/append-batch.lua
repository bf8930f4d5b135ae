-- Appends several messages, to any rooms, in one call: the appends of one event-loop turn of a node
-- (RedisRoomLog). Each is append_message (append-common.lua) on its own keys, in the given order, so a
-- room's messages keep the order they were appended in. One message's error (a key of the wrong type,
-- out of memory) is that message's answer and does not stop the others; like a one-message script, it
-- keeps whatever that message wrote before the error.
--
-- ARGV: max_messages, max_age, key_ttl, dedup_ttl, the number of messages, then per message its number
-- of keys and the 9 values append.lua takes after the first four (room_json ... except). KEYS: each message's keys in turn (append.lua's KEYS).
-- Returns one reply per message: append.lua's, or {'!', error message}.

local max_messages = ARGV[1]
local max_age = tonumber(ARGV[2])
local key_ttl = ARGV[3]
local dedup_ttl = ARGV[4]
local count = tonumber(ARGV[5])

local replies = {}
local key_base = 0
local a = 5
for i = 1, count do
  local ok, reply = pcall(append_message, key_base, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6],
    ARGV[a + 7], ARGV[a + 8] == '1', ARGV[a + 9], ARGV[a + 10], max_messages, max_age, key_ttl, dedup_ttl)
  if ok then
    replies[i] = reply
  else
    -- redis.call raises a table ({err = message}); Lua itself (cjson) a string.
    replies[i] = { '!', type(reply) == 'table' and tostring(reply.err) or tostring(reply) }
  end
  key_base = key_base + tonumber(ARGV[a + 1])
  a = a + 10
end
return replies
