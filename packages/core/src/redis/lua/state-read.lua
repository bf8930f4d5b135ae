-- Reads a room's state collections atomically with its seq, and keeps the room alive as read.lua does.
-- Returns {epoch, seq, reply for KEYS[3], reply for KEYS[4], ...}: HGETALL's flat list, HLEN, or HMGET's.

local meta = KEYS[1]                   -- the room's meta hash
local log = KEYS[2]                    -- the room's stream
-- KEYS[3..]: the state collections to read

local epoch_candidate = ARGV[1]
local ttl_with_messages = tonumber(ARGV[2])
local ttl_without_messages = tonumber(ARGV[3])
-- ARGV[4..]: what to read of KEYS[3..], in order: '*' (every field), '#' (the count), or a JSON list of fields
local FIRST_QUERY = 4

local epoch = ensure_meta(meta, log, epoch_candidate)
local seq = redis.call('HGET', meta, 'seq') or '0'
-- A join reads the snapshot instead of the log, so this read refreshes the room's TTL like read.lua.
local ttl = seq == '0' and ttl_without_messages or ttl_with_messages
extend_ttl(meta, ttl)
extend_ttl(log, ttl)
-- State keys live as long as a room with messages (their writes use that TTL); a read extends them, so an
-- active class keeps settings it has not changed for a day (removed users stay out).
local state_ttl = math.max(ttl_with_messages, ttl_without_messages)
local out = { epoch, seq }
for i = 3, #KEYS do
  extend_ttl(KEYS[i], state_ttl)
  local what = ARGV[FIRST_QUERY + i - 3]
  if what == '*' then
    out[#out + 1] = redis.call('HGETALL', KEYS[i])
  elseif what == '#' then
    out[#out + 1] = redis.call('HLEN', KEYS[i])
  else
    local fields = cjson.decode(what)
    if #fields == 0 then
      out[#out + 1] = {}
    else
      out[#out + 1] = redis.call('HMGET', KEYS[i], unpack(fields))
    end
  end
end
return out
