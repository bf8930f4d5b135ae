-- Shared by append.lua and append-batch.lua (prepended when loaded, see scripts.ts): append_message
-- appends one message to a room, atomically: dedup, sequencing, storage, trimming, expiry, the state
-- effects and, when a channel is given, the live PUBLISH (so every node sees a room's messages in seq
-- order). Without a channel nothing is published: on AWS no node subscribes.
--
-- Returns {seq, ts, epoch, duplicate (0/1), conflict (0/1), failed guard (0 or its index)} with seq and
-- ts as strings; a failed guard appends nothing. A duplicate is answered before the guards are checked.
-- The dedup value is "epoch\nseq\nts\nsha1(body)": a hash, never the body, so a key costs ~150 bytes
-- whatever the message size. The caller computes the body's hash (the same SHA-1 hex as redis.sha1hex):
-- hashing here cost 7 % of this script's instructions on Redis's one thread, which every node shares.
-- It proves a duplicate only while the stream still holds that seq with a body of that hash, or the seq was
-- trimmed away as old: after a failover that lost the original (the seq is missing, or now holds another
-- message) the retry is a new message. A different body under the same key is a conflict (compared by
-- hash, as the memory log does).
-- The publication is `${epoch}\n${seq}\n${frame}`, or `${epoch}\n${seq} ${except}\n${frame}` when one
-- connection (a sender that asked for no echo) is not to receive it (decodeRoomPublication in wire.ts).

-- The message frame as composeMessageFrame builds it, behind `prefix` (one concatenation: Lua interns
-- every string it builds, so each intermediate copy of the frame costs a hash and an allocation).
local function compose(room_json, prefix, seq, ts, b)
  return prefix .. '{"type":"message","room":' .. room_json .. ',"seq":' .. seq .. ',"ts":' .. ts .. ',' .. b
end

-- The message's keys are KEYS[key_base + 1..3]: the room's meta hash (epoch, seq), its stream, and the
-- publish id's dedup key (ignored unless deduplicate); its state collections follow (state-common.lua).
-- room_json: the room as a JSON string literal, so the frame matches composeMessageFrame. now: ts, the
-- caller's clock, epoch ms, kept verbatim. max_messages, key_ttl (of meta and stream) and dedup_ttl (ms)
-- are kept as the strings they came as (a Lua number passed to redis.call is formatted with snprintf);
-- max_age is a number. channel: the room's channel, '' to publish nothing. effects_json: '' for none.
-- body_hash: sha1 hex of body, when deduplicate. except: a connection the publication is not for ('' for none).
local function append_message(key_base, room_json, body, now, epoch_candidate, channel, effects_json, deduplicate,
                              body_hash, except, max_messages, max_age, key_ttl, dedup_ttl)
  local meta = KEYS[key_base + 1]
  local log = KEYS[key_base + 2]
  local dedup = deduplicate and KEYS[key_base + 3] or nil

  local epoch = ensure_meta(meta, log, epoch_candidate)

  if dedup then
    local seen = redis.call('GET', dedup)
    if seen then
      local p1 = string.find(seen, '\n', 1, true)
      local p2 = p1 and string.find(seen, '\n', p1 + 1, true)
      local p3 = p2 and string.find(seen, '\n', p2 + 1, true)
      local stored = false
      local seq, ts, original_hash
      if p3 then
        seq = string.sub(seen, p1 + 1, p2 - 1)
        ts = string.sub(seen, p2 + 1, p3 - 1)
        original_hash = string.sub(seen, p3 + 1)
        if tonumber(seq) <= tonumber(redis.call('HGET', meta, 'seq') or '0') then
          local entry = redis.call('XRANGE', log, seq .. '-0', seq .. '-0')
          if entry[1] then
            stored = redis.sha1hex(entry[1][2][4]) == original_hash
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
        return { seq, ts, epoch, 1, original_hash == body_hash and 0 or 1, 0 }
      end
    end
  end

  local effects = effects_json ~= '' and cjson.decode(effects_json) or nil
  if effects then
    local stale = failed_guard(effects.g, key_base)
    if stale > 0 then return { '0', '0', epoch, 0, 0, stale } end
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
    redis.call('SET', dedup, epoch .. '\n' .. seq .. '\n' .. now .. '\n' .. body_hash, 'PX', dedup_ttl)
  end
  if effects then apply_ops(effects.o, key_base, string.format('%016d', tonumber(seq)), compose(room_json, '', seq, now, body), key_ttl) end
  if channel ~= '' then
    local head = except == '' and (epoch .. '\n' .. seq .. '\n') or (epoch .. '\n' .. seq .. ' ' .. except .. '\n')
    redis.call('PUBLISH', channel, compose(room_json, head, seq, now, body))
  end
  return { seq, now, epoch, 0, 0, 0 }
end
