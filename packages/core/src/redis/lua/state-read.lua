-- Reads a room's state collections atomically with its seq, and keeps the room alive as read.lua does.
-- KEYS[1] meta hash   KEYS[2] stream   KEYS[3..] state collections
-- ARGV[1] epoch candidate   ARGV[2] TTL for a room with messages, ms   ARGV[3] TTL for a room that never
-- had one, ms   ARGV[1 + i] what to read of KEYS[i] (i >= 3): '*' (every field), '#' (the count), or a
-- JSON list of fields
-- Returns {epoch, seq, reply for KEYS[3], reply for KEYS[4], ...}: HGETALL's flat list, HLEN, or HMGET's.

local epoch = ensure_meta(KEYS[1], KEYS[2], ARGV[1])
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
-- A join reads the snapshot instead of the log, so this read refreshes the room's TTL like read.lua.
local ttl = seq == '0' and tonumber(ARGV[3]) or tonumber(ARGV[2])
extend_ttl(KEYS[1], ttl)
extend_ttl(KEYS[2], ttl)
-- State keys live as long as a room with messages (their writes use that TTL); a read extends them, so an
-- active class keeps settings it has not changed for a day (removed users stay out).
local state_ttl = math.max(tonumber(ARGV[2]), tonumber(ARGV[3]))
local out = { epoch, seq }
for i = 3, #KEYS do
  extend_ttl(KEYS[i], state_ttl)
  local what = ARGV[i + 1]
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
