-- TICO's affine quantization parameters, bit-exact in float32.
--
-- Integer ranges follow tico/quantization/wrapq/dtypes.py (tico-semantics.md
-- §2.1), qscheme defaults and validation follow config/utils.py and
-- config/ptq.py (§1.4), scale/zero-point follow
-- observers/affine_base.py::compute_qparams (§2.3), and fake quantization
-- follows the ATen kernel behind torch.fake_quantize_per_{tensor,channel}_affine
-- (§2.4). Every arithmetic step goes through util.f32 so the results are the
-- float32 values TICO's tensors hold, not double approximations of them.
--
-- The rules are TICO 0.3.0's (tico-semantics.md §7, normative): eps = 1e-8
-- floors the scale after the division, so an all-zero channel gets the scale
-- 1e-8 itself; the constant-tensor branch clamps its C to 1e-8 as well.
--
-- How torch treats the Python scalars in compute_qparams (eps = 1e-8, the
-- 1e-8 constant-tensor tolerances, qmin/qmax), for float32 min/max tensors
-- on the CPU:
--   * A Python number combined with a tensor is a "wrapped number": it never
--     promotes a float32 tensor to float64, and the kernel converts it to the
--     tensor's dtype before using it. So
--       rng.abs() < 1e-8          compares against f32(1e-8),
--       torch.allclose(C, 0)      is |C| <= atol + rtol*|0| computed in
--                                 float32, i.e. |C| <= f32(1e-8),
--       torch.clamp(x, min=1e-8)  clamps to f32(1e-8),
--       x / qmax, qmin - x        use qmax/qmin as float32 (exact: small ints).
--   * f32(1e-8) = 9.99999994e-9 is BELOW 1e-8, so a float32 range equal to
--     f32(1e-8) is not "constant" (the strict < fails), although a double
--     comparison would call it constant; an all-zero channel's scale is
--     f32(1e-8) = 9.99999994e-9.
--   * The CPU kernel for tensor / scalar divides (IEEE, correctly rounded).
--     CUDA instead multiplies by the float32 reciprocal of a CPU scalar, so
--     TICO run on a GPU can produce symmetric scales (max_abs / qmax) and
--     asymmetric scales (rng / (qmax - qmin)) one ulp away from these. kiln
--     follows the CPU, which is what the reference numbers were produced on.
--
-- Return convention: compute() returns scale, zero_point on success and
-- nil, message when the statistics cannot give usable qparams (non-finite
-- min/max, min > max, a scale that overflows float32). The message names no
-- observer; the caller prefixes it and raises through util.fail. Misuse of
-- the API (wrong argument types, mismatched array lengths) is a kiln bug and
-- raises with error().

local f32 = require "util.f32"

local qparams = {}

-- §2.1: uintB is [0, 2^B - 1], intB is [-2^(B-1), 2^(B-1) - 1]. Symmetric
-- schemes still clamp to the full range, so -2^(B-1) stays reachable.
local function make_dtype(bits, signed)
  local d = { bits = bits, signed = signed }
  if signed then
    d.name = "int" .. bits
    d.qmin = -(1 << (bits - 1))
    d.qmax = (1 << (bits - 1)) - 1
  else
    d.name = "uint" .. bits
    d.qmin = 0
    d.qmax = (1 << bits) - 1
  end
  return d
end

qparams.DTYPES = {
  uint8 = make_dtype(8, false),
  int8 = make_dtype(8, true),
  int16 = make_dtype(16, true),
  uint4 = make_dtype(4, false),
  int4 = make_dtype(4, true),
}

qparams.QSCHEMES = {
  per_tensor_symm = { name = "per_tensor_symm", symmetric = true, per_channel = false },
  per_tensor_asymm = { name = "per_tensor_asymm", symmetric = false, per_channel = false },
  per_channel_symm = { name = "per_channel_symm", symmetric = true, per_channel = true },
  per_channel_asymm = { name = "per_channel_asymm", symmetric = false, per_channel = true },
}

-- The float32 constants compute_qparams effectively uses (see header).
qparams.EPS = f32.round(1e-8)
qparams.CONST_TOL = f32.round(1e-8)

local function names_of(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, ", ")
end

-- Accepts a name or an entry of the table itself.
local function lookup(t, v)
  if type(v) == "table" then return v end
  return t[v]
end

local function dtype_error(dtype)
  return string.format("unknown dtype '%s' (known: %s)", tostring(dtype), names_of(qparams.DTYPES))
end

-- check(dtype, qscheme) -> nil when the pair is usable, else a message.
-- TICO rejects an unsigned dtype with a symmetric qscheme at config time
-- (config/ptq.py _resolve_qscheme): symmetric means zp = 0, which would throw
-- away the negative half of the data with no integers to hold it.
function qparams.check(dtype, qscheme)
  local d = lookup(qparams.DTYPES, dtype)
  if not d then return dtype_error(dtype) end
  local s = lookup(qparams.QSCHEMES, qscheme)
  if not s then
    return string.format("unknown qscheme '%s' (known: %s)", tostring(qscheme), names_of(qparams.QSCHEMES))
  end
  if not d.signed and s.symmetric then
    return string.format("unsigned dtype %s cannot be paired with symmetric qscheme %s", d.name, s.name)
  end
  return nil
end

-- auto_qscheme(dtype, is_weight) -> qscheme name, or nil, message for an
-- unknown dtype. TICO's auto_qscheme_for(dtype, obs_name): signed ->
-- per_tensor_symm; unsigned -> per_tensor_asymm, except the observer named
-- "weight" -> per_channel_asymm.
function qparams.auto_qscheme(dtype, is_weight)
  local d = lookup(qparams.DTYPES, dtype)
  if not d then return nil, dtype_error(dtype) end
  if d.signed then return "per_tensor_symm" end
  if is_weight then return "per_channel_asymm" end
  return "per_tensor_asymm"
end

local function describe(mn, mx)
  return string.format("min=%s, max=%s", tostring(mn), tostring(mx))
end

-- Validates one (min, max) pair of float32 statistics.
local function check_stats(mn, mx)
  local finite_min = mn == mn and mn ~= math.huge and mn ~= -math.huge
  local finite_max = mx == mx and mx ~= math.huge and mx ~= -math.huge
  if not (finite_min and finite_max) then
    if mn == math.huge and mx == -math.huge then
      -- The MinMax observer's initial state: no data ever reached it.
      return "min/max are not finite (" .. describe(mn, mx) .. "): the observer saw no calibration data"
    end
    return "min/max are not finite (" .. describe(mn, mx) .. ")"
  end
  if mn > mx then return "min > max (" .. describe(mn, mx) .. ")" end
  return nil
end

-- Symmetric: scale = clamp(max(|max|, |min|) / qmax, min=eps), zp = 0.
-- Dividing by qmax (not qmax - qmin) is TICO's choice; qmin is still usable.
local function symmetric(d, mn, mx)
  local max_abs = math.max(math.abs(mx), math.abs(mn))
  return math.max(f32.div(max_abs, d.qmax), qparams.EPS), 0
end

-- Asymmetric, one element. per_tensor selects TICO's constant-tensor branch,
-- which compute_qparams only takes when channel_axis is None.
local function asymmetric(d, mn, mx, per_tensor)
  local rng = f32.sub(mx, mn)
  if per_tensor and math.abs(rng) < qparams.CONST_TOL then
    -- Constant tensor C = min_val: a scale from a ~zero range would be
    -- meaningless, so TICO picks one that represents C itself exactly.
    local c = mn
    if math.abs(c) <= qparams.CONST_TOL then return 1.0, 0 end
    if c > 0 then return math.max(c, qparams.EPS), 0 end
    return math.max(math.abs(c), qparams.EPS), d.qmax
  end
  -- Force the range to include 0 so that 0.0 is exactly representable.
  if mn > 0 then rng = mx end
  if mx < 0 then rng = -mn end
  local scale = math.max(f32.div(rng, d.qmax - d.qmin), qparams.EPS)
  if scale == math.huge then
    return nil, "range " .. describe(mn, mx) .. " overflows float32 (scale is inf)"
  end
  -- zp uses the raw min (not the forced range): for min > 0 it falls below
  -- qmin and clamps there, for max < 0 it lands on qmax.
  local zp = f32.round_half_even(f32.sub(d.qmin, f32.div(mn, scale)))
  zp = math.min(math.max(zp, d.qmin), d.qmax)
  return scale, math.tointeger(zp)
end

local function one(d, s, mn, mx, per_tensor)
  mn, mx = f32.round(mn), f32.round(mx)
  local msg = check_stats(mn, mx)
  if msg then return nil, msg end
  if s.symmetric then return symmetric(d, mn, mx) end
  return asymmetric(d, mn, mx, per_tensor)
end

-- compute(dtype, qscheme, min, max) -> scale, zero_point | nil, message.
--
-- min/max are the observer's float32 statistics (values are rounded to
-- float32 first, a no-op for genuine float32 values). Numbers mean a 0-d
-- statistic (channel_axis None): scale and zp are numbers. Arrays mean
-- per-channel statistics: scale and zp are arrays, one entry per channel,
-- and an error message starts with "channel N: ".
--
-- What decides per-tensor vs per-channel is the shape, as in TICO, where it
-- is channel_axis and not the qscheme label: ObserverBase drops channel_axis
-- for per-tensor schemes, and a per_channel_* observer without a
-- channel_axis (TICO's RMSNorm weight) behaves as per-tensor, constant-tensor
-- branch included. So numbers are accepted with any qscheme, arrays only
-- with a per_channel_* one.
function qparams.compute(dtype, qscheme, min, max)
  local msg = qparams.check(dtype, qscheme)
  if msg then return nil, msg end
  local d = lookup(qparams.DTYPES, dtype)
  local s = lookup(qparams.QSCHEMES, qscheme)

  if type(min) == "number" and type(max) == "number" then
    return one(d, s, min, max, true)
  end
  if type(min) ~= "table" or type(max) ~= "table" then
    error("qparams.compute: min and max must both be numbers or both be arrays", 2)
  end
  if not s.per_channel then
    error("qparams.compute: per-channel statistics given for " .. s.name, 2)
  end
  if #min ~= #max or #min == 0 then
    error(string.format("qparams.compute: min has %d channels, max has %d", #min, #max), 2)
  end
  local scales, zps = {}, {}
  for c = 1, #min do
    local scale, zp = one(d, s, min[c], max[c], false)
    if not scale then return nil, string.format("channel %d: %s", c - 1, zp) end
    scales[c], zps[c] = scale, zp
  end
  return scales, zps
end

-- quantize(x, scale, zp, qmin, qmax) -> the integer q TICO's fake
-- quantization computes for float32 x (§2.4, ATen's kernel):
--   inv = 1.0f / scale;  qf = zp + nearbyint(x * inv)     (all float32)
--   q = (int64) fmin(fmax(qf, qmin), qmax)
-- It multiplies by the float32 reciprocal; it does not divide, and the two
-- disagree near ties. The clamp happens in floating point before the integer
-- conversion, so +-inf saturate, and NaN becomes qmin because fmax() returns
-- the other operand when one is NaN. Per-channel: pass scale[c], zp[c].
function qparams.quantize(x, scale, zp, qmin, qmax)
  local inv = f32.div(1.0, f32.round(scale))
  local qf = f32.add(zp, f32.round_half_even(f32.mul(f32.round(x), inv)))
  if qf ~= qf then qf = qmin end
  qf = math.min(math.max(qf, qmin), qmax)
  return math.tointeger(qf)
end

-- fake_quant(x, scale, zp, qmin, qmax) -> (q - zp) * scale in float32: the
-- value TICO's FQ(x) holds. q - zp is an exact integer (|q - zp| <= 65535
-- for 16 bits), converted to float32 exactly, then one float32 multiply.
function qparams.fake_quant(x, scale, zp, qmin, qmax)
  local q = qparams.quantize(x, scale, zp, qmin, qmax)
  return f32.mul(q - zp, f32.round(scale))
end

return qparams
