-- Reads a room's state, atomically: creates the meta (new epoch) when missing, trims by age, refreshes
-- the room's TTL and returns the entries after `since` when they can all be served.
--
-- Returns {epoch, seq, seq1, ts1, body1, seq2, ts2, body2, ...}. Entries are returned only when since is
-- given, the epoch matches (when given), since <= seq, seq - since <= the cap and the oldest kept entry
-- is at most since + 1: all of the gap or nothing.

local meta = KEYS[1]                   -- the room's meta hash
local log = KEYS[2]                    -- the room's stream

local epoch_candidate = ARGV[1]
local now = tonumber(ARGV[2])          -- ms
local max_age = tonumber(ARGV[3])      -- ms
local ttl_with_messages = tonumber(ARGV[4])
local ttl_without_messages = tonumber(ARGV[5])
local since_arg = ARGV[6]              -- '' for none; otherwise a non-negative integer
local caller_epoch = ARGV[7]           -- '' for none
local cap = tonumber(ARGV[8])          -- most entries to return

local epoch = ensure_meta(meta, log, epoch_candidate)
local seq = tonumber(redis.call('HGET', meta, 'seq')) or 0
trim_by_age(log, now - max_age)
local ttl = seq == 0 and ttl_without_messages or ttl_with_messages
extend_ttl(meta, ttl)
extend_ttl(log, ttl)

local out = { epoch, string.format('%d', seq) }
if since_arg == '' or (caller_epoch ~= '' and caller_epoch ~= epoch) then return out end
local since = tonumber(since_arg)
if since == nil or since < 0 or since >= seq or seq - since > cap then return out end

local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if #oldest == 0 then return out end
local oldest_seq = tonumber(string.match(oldest[1][1], '^(%d+)-'))
if oldest_seq == nil or oldest_seq > since + 1 then return out end

local entries = redis.call('XRANGE', log, '(' .. string.format('%d', since) .. '-0', '+', 'COUNT', seq - since)
for i = 1, #entries do
  local id, fields = entries[i][1], entries[i][2]
  local t, b = nil, nil
  for j = 1, #fields, 2 do
    if fields[j] == 't' then t = fields[j + 1] elseif fields[j] == 'b' then b = fields[j + 1] end
  end
  out[#out + 1] = string.match(id, '^(%d+)-')
  out[#out + 1] = t or '0'
  out[#out + 1] = b or ''
end
return out
