-- Changes a room's state without appending: guards, then ops (no placeholders).
-- KEYS[1] meta hash   KEYS[2] stream   KEYS[3..] state collections
-- ARGV[1] epoch candidate   ARGV[2] effects JSON   ARGV[3] TTL of the state keys, ms
-- Returns the index of the failed guard, or 0.

ensure_meta(KEYS[1], KEYS[2], ARGV[1])
local effects = cjson.decode(ARGV[2])
local stale = failed_guard(effects.g)
if stale > 0 then return stale end
apply_ops(effects.o, '', '', ARGV[3])
return 0
