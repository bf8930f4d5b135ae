-- Changes a room's state without appending: guards, then ops (no placeholders).
-- Returns the index of the failed guard, or 0.

local meta = KEYS[1]                   -- the room's meta hash
local log = KEYS[2]                    -- the room's stream
-- KEYS[3..]: the state collections the effects name (state-common.lua)

local epoch_candidate = ARGV[1]
local effects_json = ARGV[2]
local state_ttl = ARGV[3]              -- ms

ensure_meta(meta, log, epoch_candidate)
local effects = cjson.decode(effects_json)
local stale = failed_guard(effects.g, 0)
if stale > 0 then return stale end
apply_ops(effects.o, 0, '', '', state_ttl)
return 0
