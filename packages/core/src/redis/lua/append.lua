-- Appends one message to a room (append_message in append-common.lua). Returns
-- {seq, ts, epoch, duplicate (0/1), conflict (0/1), failed guard (0 or its index)}.

-- KEYS: the room's meta hash, its stream, the publish id's dedup key, then the state collections the
-- effects name (state-common.lua). ARGV: max_messages, max_age, key_ttl, dedup_ttl, then room_json,
-- body, now (ts), epoch candidate, channel, effects_json, deduplicate ('1' or '0'), body_hash, except.
return append_message(0, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11] == '1', ARGV[12],
  ARGV[13], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4])
