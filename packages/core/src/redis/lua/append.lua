-- Appends one message to a room, atomically: dedup, sequencing, storage, trimming, expiry and the
-- live PUBLISH (so every node sees a room's messages in seq order).
--
-- KEYS[1] meta hash (epoch, seq)   KEYS[2] stream   KEYS[3] dedup key (ignored unless ARGV[11] is '1')
-- KEYS[4..] the state collections the effects name (state-common.lua)
-- ARGV[1] room as a JSON string literal (JSON.stringify(room), so the frame matches composeMessageFrame)
-- ARGV[2] body                     ARGV[3] ts (the caller's clock, epoch ms, kept verbatim)
-- ARGV[4] epoch candidate          ARGV[5] maxMessages        ARGV[6] maxAgeMs
-- ARGV[7] TTL of meta and stream, ms   ARGV[8] dedup TTL, ms   ARGV[9] pub/sub channel
-- ARGV[10] state effects as JSON ('' for none)   ARGV[11] '1' to deduplicate on KEYS[3]
--
-- Returns {seq, ts, frame, duplicate (0/1), conflict (0/1), failed guard (0 or its index)} with seq and
-- ts as strings; a failed guard appends nothing. A duplicate is answered before the guards are checked.
-- The dedup value is "epoch\nseq\nts\nbody". It proves a duplicate only while the stream still holds
-- that seq with that body, or the seq was trimmed away as old: after a failover that lost the original
-- (the seq is missing, or now holds another message) the retry is a new message.

local meta, log = KEYS[1], KEYS[2]
local dedup = ARGV[11] == '1' and KEYS[3] or nil
local room_json, body, now = ARGV[1], ARGV[2], ARGV[3]
-- Kept as the strings they came as: a Lua number passed to redis.call is formatted with snprintf.
local max_messages = ARGV[5]
local max_age = tonumber(ARGV[6])
local key_ttl = ARGV[7]
local dedup_ttl = ARGV[8]
local channel = ARGV[9]

local function compose(seq, ts, b)
  return '{"type":"message","room":' .. room_json .. ',"seq":' .. seq .. ',"ts":' .. ts .. ',' .. b
end

local epoch = ensure_meta(meta, log, ARGV[4])

if dedup then
  local seen = redis.call('GET', dedup)
  if seen then
    local p1 = string.find(seen, '\n', 1, true)
    local p2 = p1 and string.find(seen, '\n', p1 + 1, true)
    local p3 = p2 and string.find(seen, '\n', p2 + 1, true)
    local stored = false
    local seq, ts, original
    if p3 then
      seq = string.sub(seen, p1 + 1, p2 - 1)
      ts = string.sub(seen, p2 + 1, p3 - 1)
      original = string.sub(seen, p3 + 1)
      if tonumber(seq) <= tonumber(redis.call('HGET', meta, 'seq') or '0') then
        local entry = redis.call('XRANGE', log, seq .. '-0', seq .. '-0')
        if entry[1] then
          stored = entry[1][2][4] == original
        else
          local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
          stored = first[1] == nil or tonumber(seq) < tonumber(string.match(first[1][1], '^(%d+)'))
        end
      end
    end
    if stored then
      -- A write, so that a WAIT after a duplicate also covers the original append (WAIT waits for the
      -- connection's last write), and a retried room stays alive.
      redis.call('PEXPIRE', meta, key_ttl)
      redis.call('PEXPIRE', log, key_ttl)
      return { seq, ts, compose(seq, ts, original), 1, original == body and 0 or 1, 0 }
    end
  end
end

local effects = ARGV[10] ~= '' and cjson.decode(ARGV[10]) or nil
if effects then
  local stale = failed_guard(effects.g)
  if stale > 0 then return { '0', '0', '', 0, 0, stale } end
end

local seq_number = redis.call('HINCRBY', meta, 'seq', 1)
local seq = string.format('%d', seq_number)
-- Trimmed to the count in the same call (exact, not '~': the kept seqs stay gapless and bounded).
redis.call('XADD', log, 'MAXLEN', max_messages, seq .. '-0', 't', now, 'b', body)
-- Reads trim by age before they serve anything; here the age trim only bounds memory, so every 32nd
-- append does it (it reads the oldest entry back into Lua: a fifth of this script's cost).
if seq_number % 32 == 0 then trim_by_age(log, tonumber(now) - max_age) end
redis.call('PEXPIRE', meta, key_ttl)
redis.call('PEXPIRE', log, key_ttl)
if dedup then
  redis.call('SET', dedup, epoch .. '\n' .. seq .. '\n' .. now .. '\n' .. body, 'PX', dedup_ttl)
end
local frame = compose(seq, now, body)
if effects then apply_ops(effects.o, string.format('%016d', tonumber(seq)), frame, key_ttl) end
redis.call('PUBLISH', channel, epoch .. '\n' .. seq .. '\n' .. frame)
return { seq, now, frame, 0, 0, 0 }
