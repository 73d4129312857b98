-- RoPE's frequencies: TICO's (transformers') formula inv_freq = 1 / theta **
-- (2i / d), and the scalings of long-context Llamas, computed as
-- transformers computes them (the tables themselves are made in C,
-- runtime/float/model.c, for the float model and the generated constants).
--
-- A description holds rope_theta and, when the model scales, rope_scaling =
-- { type = "linear", factor } or { type = "llama3", factor, low_freq_factor,
-- high_freq_factor, original_max_position_embeddings }.

local fail = require "util.fail"
local json = require "util.json"

local rope = {}

rope.DEFAULT_THETA = 10000.0

local FIELDS = {
  linear = { "factor" },
  llama3 = { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" },
}
rope.FIELDS = FIELDS -- each scaling's fields, as config.json names them (write/convert.lua writes them back)

local function positive(path, key, v)
  if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
    fail.raise(path, key, tostring(v) .. " is not a positive number")
  end
  return v
end

-- The scaling of a table of rope parameters (transformers 5's rope_parameters
-- or 4.x's rope_scaling), or nil for none; field is its key, for messages.
local function scaling_of(path, field, t)
  local kind = t.rope_type ~= nil and t.rope_type or t.type
  if kind == nil or kind == json.decoded_null or kind == "default" then return nil end
  if not FIELDS[kind] then
    fail.raise(path, field .. ".rope_type", string.format("%s is not supported (default, linear, llama3)", tostring(kind)))
  end
  local s = { type = kind }
  for _, key in ipairs(FIELDS[kind]) do s[key] = positive(path, field .. "." .. key, t[key]) end
  if kind == "llama3" and s.high_freq_factor <= s.low_freq_factor then
    fail.raise(path, field .. ".high_freq_factor", "must be larger than low_freq_factor")
  end
  return s
end

-- from_hf_config(path, cfg) -> rope_theta, rope_scaling (or nil).
function rope.from_hf_config(path, cfg)
  local params = cfg.rope_parameters
  if params ~= nil and params ~= json.decoded_null then
    if type(params) ~= "table" then fail.raise(path, "rope_parameters", "is not an object") end
    local theta = params.rope_theta ~= nil and positive(path, "rope_parameters.rope_theta", params.rope_theta)
      or rope.DEFAULT_THETA
    return theta, scaling_of(path, "rope_parameters", params)
  end
  local theta = cfg.rope_theta ~= nil and positive(path, "rope_theta", cfg.rope_theta) or rope.DEFAULT_THETA
  local s = cfg.rope_scaling
  if s == nil or s == json.decoded_null then return theta, nil end
  if type(s) ~= "table" then fail.raise(path, "rope_scaling", "is not an object") end
  return theta, scaling_of(path, "rope_scaling", s)
end

-- The native module's form: { theta, type = 0 default | 1 linear | 2 llama3, factor, low, high, original }.
function rope.native(desc)
  local s = desc.rope_scaling
  local t = { theta = desc.rope_theta, type = 0, factor = 1, low = 1, high = 1, original = 1 }
  if s then
    t.type = s.type == "linear" and 1 or 2
    t.factor = s.factor
    t.low, t.high = s.low_freq_factor or 1, s.high_freq_factor or 1
    t.original = s.original_max_position_embeddings or 1
  end
  return t
end

return rope
