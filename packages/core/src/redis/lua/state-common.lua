-- Shared by append.lua, state-update.lua and state-read.lua (prepended when loaded, see scripts.ts).
-- A room's state is a set of hashes, one per collection; the caller declares their keys after the
-- script's fixed keys, and the effects (JSON, see encodeEffects in wire.ts) name them by KEYS index:
--   guards: { {key index, field, value or false for "absent"}, ... }
--   ops:    { {'s', key index, field, value, only-if-present 0/1, keep (0: no limit)}
--           | {'d', key index, field} | {'c', key index} | {'a', key index, field, integer to add} }
-- In an append, '$seq' as a field or value stands for the new seq zero-padded to 16 digits, and
-- '$frame' as a value for the stored message frame.

-- Index (1-based) of the first guard that does not hold, or 0.
local function failed_guard(guards, key_base)
  for i = 1, #guards do
    local g = guards[i]
    local current = redis.call('HGET', KEYS[key_base + g[1]], g[2])
    if g[3] == false then
      if current then return i end
    elseif current ~= g[3] then
      return i
    end
  end
  return 0
end

local function apply_ops(ops, key_base, seq_field, frame, ttl)
  local touched = {}
  for i = 1, #ops do
    local o = ops[i]
    local key = KEYS[key_base + o[2]]
    touched[key] = true
    if o[1] == 'c' then
      redis.call('DEL', key)
    elseif o[1] == 'd' then
      redis.call('HDEL', key, o[3])
    elseif o[1] == 'a' then
      -- Formatted by Lua as an integer: cjson decodes every number as a double.
      redis.call('HINCRBY', key, o[3], string.format('%d', o[4]))
    else
      local field = o[3]
      if field == '$seq' then field = seq_field end
      local value = o[4]
      if value == '$seq' then value = seq_field elseif value == '$frame' then value = frame end
      if o[5] == 0 or redis.call('HEXISTS', key, field) == 1 then
        redis.call('HSET', key, field, value)
        local keep = o[6]
        if keep > 0 then
          local count = redis.call('HLEN', key)
          if count > keep then
            local fields = redis.call('HKEYS', key)
            if count == keep + 1 then
              -- The usual case (one over): the least field, found in one pass; sorting cost 3x more.
              local least = fields[1]
              for j = 2, #fields do
                if fields[j] < least then least = fields[j] end
              end
              redis.call('HDEL', key, least)
            else
              table.sort(fields)
              for j = 1, count - keep do redis.call('HDEL', key, fields[j]) end
            end
          end
        end
      end
    end
  end
  for key in pairs(touched) do redis.call('PEXPIRE', key, ttl) end
end
