-- Shared by the room scripts (append, read, state-read, state-update): prepended when loaded (scripts.ts).
-- A room's stream holds entries with ID `${seq}-0` and fields `t` (ts, epoch ms) and `b` (body). Entries
-- are only ever removed from the head, so the kept seqs are gapless.

-- The `t` field of a stream entry ({id, {field, value, ...}}), as a number.
local function entry_ts(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return tonumber(fields[i + 1]) end
  end
  return nil
end

-- Drops leading entries older than `cutoff` (ts < cutoff), stopping at the first young one, like the
-- memory log's head trim. Amortized O(1) per entry: everything scanned but the last batch is deleted.
local function trim_by_age(log, cutoff)
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #first == 0 then return end
  local ts = entry_ts(first[1])
  if ts == nil or ts >= cutoff then return end
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', log, start, '+', 'COUNT', 128)
    if #batch == 0 then
      -- Every entry is too old. The seq lives in the meta hash, so the stream itself can go.
      redis.call('DEL', log)
      return
    end
    for i = 1, #batch do
      local t = entry_ts(batch[i])
      if t == nil or t >= cutoff then
        redis.call('XTRIM', log, 'MINID', batch[i][1])
        return
      end
    end
    start = '(' .. batch[#batch][1]
  end
end

-- Sets a TTL unless the key already lives at least that long.
local function extend_ttl(key, ttl)
  local current = redis.call('PTTL', key)
  if current == -2 then return end
  if current < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- The room's epoch, creating the meta hash (with `candidate` as the epoch and seq 0) when it is missing.
-- A stream without its meta belongs to a lost generation (eviction, partial loss) and is dropped, so a
-- new epoch never serves old entries or collides with their IDs.
local function ensure_meta(meta, log, candidate)
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch then return epoch, false end
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', candidate, 'seq', 0)
  return candidate, true
end
