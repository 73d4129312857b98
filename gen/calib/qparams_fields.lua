-- The numbers of a qparams file (or gptq.json), each checked where it is
-- read: its JSON type, finiteness, and the range kiln can represent. Every
-- refusal is one line naming the file, the observer and the limit; a value
-- is shown as the file has it ("0" (a string), null, missing), so a string
-- that prints like a number is not mistaken for one.
--
-- What is checked here is what one observer's numbers can get wrong. The
-- ratios of two observers' scales (a requantization's multiplier, RMSNorm's
-- eps term) are the planner's to check: plan/fixed.lua refuses them in one
-- line naming the file and the observer.

local fail = require "util.fail"
local f32 = require "util.f32"
local json = require "util.json"
local qparams = require "calib.qparams"

local fields = {}

-- The smallest positive normal float32. A scale below it (a denormal) has no
-- float32 reciprocal, which TICO's fake quantization and every multiplier
-- into that grid need.
fields.SCALE_MIN = 2.0 ^ -126

-- How far a scale may be from the one its own min/max give (TICO's
-- compute_qparams), either way: a grid 256 times too coarse puts the whole
-- observed range on a code or two (an lm_head.act_out scale of 1e10 makes
-- every logit 0), one 256 times too fine clips all but 1/256 of it. Grids
-- made another way (kiln gptq's, TICO's shared grids) stay well within.
fields.RANGE_RATIO = 256

local function is_null(v) return v == nil or v == json.decoded_null end

-- show(v) -> v as the file has it, for a message.
function fields.show(v)
  if v == nil then return "missing" end
  if v == json.decoded_null then return "null" end
  local t = type(v)
  if t == "string" then return string.format("%q (a string)", v) end
  if t == "table" then return next(v) == nil and "[] (empty)" or (v[1] ~= nil and "an array" or "an object") end
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "nan" end
    return string.format("%.9g", v)
  end
  return tostring(v) .. " (a " .. t .. ")"
end
local show = fields.show

local function finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end
fields.finite = finite

-- scale(path, name, v) -> the float32 scale: a finite positive number whose
-- float32 is normal.
function fields.scale(path, name, v)
  if not finite(v) then fail.raise(path, name, "scale is " .. show(v) .. ", not a finite number") end
  if v <= 0 then fail.raise(path, name, "scale " .. show(v) .. " is not positive") end
  local s = f32.round(v)
  if s == math.huge then
    fail.raise(path, name, string.format("scale %s overflows float32 (above %.9g)", show(v), f32.MAX))
  end
  if s < fields.SCALE_MIN then
    fail.raise(path, name, string.format("scale %s is below float32's smallest normal 2^-126 (%.9g): its "
      .. "reciprocal overflows", show(v), fields.SCALE_MIN))
  end
  return s
end

-- zero_point(path, name, v, dtype, symmetric) -> the integer zero point, in
-- the dtype's range (and 0 for a symmetric qscheme).
function fields.zero_point(path, name, v, dt, symmetric)
  if type(v) ~= "number" or not finite(v) or v ~= math.floor(v) then
    fail.raise(path, name, "zero_point " .. show(v) .. " is not an integer")
  end
  if v < dt.qmin or v > dt.qmax then -- before the conversion: 1e20 has no int64
    fail.raise(path, name, string.format("zero_point %s is outside %s's range [%d, %d]", show(v), dt.name, dt.qmin, dt.qmax))
  end
  v = math.tointeger(v)
  if symmetric and v ~= 0 then fail.raise(path, name, "zero_point " .. v .. " of a symmetric qscheme must be 0") end
  return v
end

-- check_value(path, name, "scale" | "zero_point", v, dtype, symmetric) -> v
-- as qparams hold it.
function fields.check_value(path, name, field, v, dt, symmetric)
  if field == "scale" then return fields.scale(path, name, v) end
  return fields.zero_point(path, name, v, dt, symmetric)
end

-- model_keys(path, model, desc, keys, required): each key of the file's
-- "model" object equals the model's (same JSON type too: "64" is not 64).
-- Without required, a key the file leaves out is not checked.
function fields.model_keys(path, model, desc, keys, required)
  if model == nil and not required then return end
  if type(model) ~= "table" then fail.raise(path, "model", show(model) .. ", expected an object") end
  for _, k in ipairs(keys) do
    local v = model[k]
    if (v ~= nil or required) and v ~= desc[k] then
      -- the types are named only when they differ ("64" against 64)
      local same = type(v) == type(desc[k])
      fail.raise(path, "model." .. k, string.format("%s in the file, but %s in the model%s",
        same and tostring(v) or show(v), same and tostring(desc[k]) or show(desc[k]),
        k == "dtype" and type(v) == "string" and ("; --dtype " .. v .. " holds the weights as calibrated") or ""))
    end
  end
end

-- axis(path, name, v, per_channel): per-channel observers have axis 0 (the
-- number), per-tensor ones none.
function fields.axis(path, name, v, per_channel)
  if per_channel then
    if v ~= 0 then fail.raise(path, name, "axis " .. show(v) .. ": only axis 0 (output rows) is supported") end
  elseif not is_null(v) then
    fail.raise(path, name, "axis " .. show(v) .. " on a per-tensor qscheme (expected null)")
  end
end

local function number_list(path, name, field, v, rows)
  if type(v) ~= "table" then
    fail.raise(path, name, string.format("%s is %s, expected an array of %d numbers (one per output row)", field, show(v), rows))
  end
  if #v ~= rows then fail.raise(path, name, string.format("%s has %d entries, but the weight has %d output rows", field, #v, rows)) end
  for c, x in ipairs(v) do
    if not finite(x) then fail.raise(path, name, string.format("%s[%d] is %s, not a finite number", field, c - 1, show(x))) end
  end
  return v
end

-- range(path, name, o, entry, rows): the observer's min and max are there,
-- finite numbers (arrays of rows for a per-channel one), min <= max, and
-- the scale is within RANGE_RATIO of the one they give.
function fields.range(path, name, o, entry, rows)
  local mins, maxs
  if rows then
    mins, maxs = number_list(path, name, "min", o.min, rows), number_list(path, name, "max", o.max, rows)
  else
    for _, field in ipairs({ "min", "max" }) do
      if not finite(o[field]) then fail.raise(path, name, field .. " is " .. show(o[field]) .. ", not a finite number") end
    end
    mins, maxs = { o.min }, { o.max }
  end
  local scales = rows and entry.scale or { entry.scale }
  for c = 1, #mins do
    local where = rows and string.format(" in channel %d", c - 1) or ""
    if mins[c] > maxs[c] then
      fail.raise(path, name, string.format("min %s > max %s%s", show(mins[c]), show(maxs[c]), where))
    end
    -- a channel by the per-channel rules (no constant-tensor branch)
    local want, err = qparams.compute(entry.dtype, entry.qscheme, rows and { mins[c] } or mins[c],
      rows and { maxs[c] } or maxs[c])
    if not want then fail.raise(path, name, err .. where) end
    if rows then want = want[1] end
    local ratio = scales[c] / want
    if ratio > fields.RANGE_RATIO or ratio < 1 / fields.RANGE_RATIO then
      fail.raise(path, name, string.format("scale %.9g%s is %.3g times the %.9g its range [%s, %s] gives (TICO's "
        .. "compute_qparams); kiln takes at most %d times either way", scales[c], where, ratio, want, show(mins[c]),
        show(maxs[c]), fields.RANGE_RATIO))
    end
  end
end

-- optional_string(path, name, o, key): an optional string (tied, grid_from, observer).
function fields.optional_string(path, name, o, key)
  if not is_null(o[key]) and type(o[key]) ~= "string" then
    fail.raise(path, name, key .. " is " .. show(o[key]) .. ", expected a string")
  end
end

fields.is_null = is_null

return fields
