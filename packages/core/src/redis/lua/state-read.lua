-- Reads a room's state collections atomically with its seq.
-- KEYS[1] meta hash   KEYS[2] stream   KEYS[3..] state collections
-- ARGV[1] epoch candidate   ARGV[2] TTL of the state keys, ms (a read extends it: an active class keeps
-- settings it has not changed for a day)   ARGV[2 + i] what to read of KEYS[2 + i]: '*' (every field),
-- '#' (the count), or a JSON list of fields
-- Returns {epoch, seq, reply for KEYS[3], reply for KEYS[4], ...}: HGETALL's flat list, HLEN, or HMGET's.

local epoch = ensure_meta(KEYS[1], KEYS[2], ARGV[1])
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
local out = { epoch, seq }
local ttl = tonumber(ARGV[2])
for i = 3, #KEYS do
  extend_ttl(KEYS[i], ttl)
  local what = ARGV[i]
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
