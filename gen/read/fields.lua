-- Typed fields of a model's own description (config.json, GGUF metadata),
-- each refused in one line naming the file and the key when it is missing
-- or not what it must be. lua-cjson reads every JSON number as a float and
-- JSON null as a sentinel: both are taken as the formats mean them.

local fail = require "util.fail"
local json = require "util.json"

local fields = {}

local LIMIT = 1 << 24 -- no plausible dimension is larger

local function get(path, t, key, default)
  local v = t[key]
  if v == nil or v == json.decoded_null then
    if default == nil then fail.raise(path, key, "missing") end
    return nil
  end
  return v
end

-- size(path, t, key [, default]) -> a positive integer below 2^24.
function fields.size(path, t, key, default)
  local v = get(path, t, key, default)
  if v == nil then return default end
  if type(v) ~= "number" or v ~= math.floor(v) or v < 1 or v >= LIMIT then
    fail.raise(path, key, tostring(v) .. " is not a positive integer size")
  end
  return math.tointeger(v)
end

-- token_id(path, t, key) -> a token id (an integer >= 0; the first of a list,
-- as transformers writes several EOS ids), or nil when absent or null.
function fields.token_id(path, t, key)
  local v = t[key]
  if type(v) == "table" then v = v[1] end
  if v == nil or v == json.decoded_null then return nil end
  if type(v) ~= "number" or v ~= math.floor(v) or v < 0 or v >= LIMIT then
    fail.raise(path, key, tostring(v) .. " is not a token id")
  end
  return math.tointeger(v)
end

-- number(path, t, key [, default]) -> a positive finite number (a float).
function fields.number(path, t, key, default)
  local v = get(path, t, key, default)
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
    fail.raise(path, key, tostring(v) .. " is not a positive number")
  end
  return v + 0.0
end

-- flag(path, t, key, default) -> true or false.
function fields.flag(path, t, key, default)
  local v = get(path, t, key, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then fail.raise(path, key, tostring(v) .. " is not true or false") end
  return v
end

-- heads(path, t, keys) -> heads, kv_heads, head_dim, hidden from the keys
-- { heads, kv_heads, head_dim, hidden } of t: kv heads default to the heads
-- and must divide them, head_dim defaults to hidden / heads and must be even.
function fields.heads(path, t, keys)
  local heads = fields.size(path, t, keys.heads)
  local hidden = fields.size(path, t, keys.hidden)
  local head_dim = fields.size(path, t, keys.head_dim, hidden % heads == 0 and hidden // heads or nil)
  local kv_heads = fields.size(path, t, keys.kv_heads, heads)
  if heads % kv_heads ~= 0 then
    fail.raise(path, keys.kv_heads, string.format("%d does not divide %s %d", kv_heads, keys.heads, heads))
  end
  if head_dim % 2 ~= 0 then fail.raise(path, keys.head_dim, head_dim .. " must be even for RoPE") end
  return heads, kv_heads, head_dim, hidden
end

return fields
