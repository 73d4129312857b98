-- Fixed-point constants for the integer kernels, computed at generation time.
--
-- The runtime never sees a scale: every ratio of scales becomes a kiln_rq
-- (mult in [2^30, 2^31), shift) with value mult * 2^-shift, and every
-- nonlinearity a table. Lua numbers are doubles; scales are float32 values,
-- so their products and ratios are computed exactly enough (53 bits) before
-- being rounded to 31.

local fail = require "util.fail"
local f32 = require "util.f32"
local detmath = require "util.detmath"
local qparams = require "calib.qparams"

local fixed = {}

local TWO31 = 2147483648 -- 2^31 (1.0 in Q31)

-- The runtime's limits, which every constant the planner makes must fit
-- (runtime/include: kiln_rq, kiln_add_rq, kiln_norm_rq). A ratio of scales
-- outside them cannot be lowered: it is refused (util.fail, no file named
-- here: plan/adapter.lua names the qparams file and the observer), never
-- clamped, since the integer C would then compute something else.
fixed.RQ_SHIFT_MAX = 95 -- kiln_rq: mult in [2^30, 2^31), shift 0..95
fixed.RQ_MIN = 2.0 ^ (30 - fixed.RQ_SHIFT_MAX) -- 2^-65
fixed.RQ_MAX = 2.0 ^ 31
fixed.ADD_SHIFT_MAX = 62 -- kiln_add_rq: one shift 0..62, the largest weight 30 bits
fixed.ADD_MIN = 2.0 ^ (29 - fixed.ADD_SHIFT_MAX) -- 2^-33
fixed.ADD_MAX = 2.0 ^ 30
fixed.NORM_SUM_MAX = 2.0 ^ 61 -- kiln_norm_rq: n * max_dev^2 + eps_term in int64, with headroom

local function refuse(fmt, ...) fail.raise(nil, nil, string.format(fmt, ...)) end
local function named(what) return what and ("multiplier " .. what .. " =") or "multiplier" end

-- rq_fits(real) -> whether fixed.rq takes real (a cheap test for the loops
-- over weight rows, which build a message only for the row that fails).
function fixed.rq_fits(real)
  return real >= fixed.RQ_MIN and real < fixed.RQ_MAX - 0.5
end

-- rq(real [, what]) -> { mult, shift } with mult * 2^-shift = real to 31 bits.
-- what names the ratio in a refusal ("s_in * (1/s_out)").
function fixed.rq(real, what)
  -- (the messages are built only on failure: rq runs once per weight row)
  if not (real > 0 and real < math.huge) then
    refuse("%s %s is not positive and finite (a scale's reciprocal overflows float32)", named(what), tostring(real))
  end
  local shift = 30 - detmath.floor_log2(real)
  local mult = math.floor(real * 2.0 ^ shift + 0.5) -- in [2^30, 2^31]
  if mult == TWO31 then mult, shift = TWO31 // 2, shift - 1 end
  if not (shift >= 0 and shift <= fixed.RQ_SHIFT_MAX) then
    refuse("%s %.6g is outside the runtime's range [2^-65, 2^31) (kiln_rq: shift 0..%d)", named(what), real,
      fixed.RQ_SHIFT_MAX)
  end
  return { mult = math.tointeger(mult), shift = shift, real = real }
end

-- add_rq(reals) -> { ma, mb, mc, shift }: integer weights over one shift so
-- that sum(q_i * m_i) / 2^shift = sum(q_i * real_i). The largest weight gets
-- 30 bits; |q| < 2^17 keeps every product below 2^48.
function fixed.add_rq(reals)
  local largest = 0
  for _, r in ipairs(reals) do
    if not (r >= 0 and r < math.huge) then refuse("add: term ratio %s is not finite", tostring(r)) end
    largest = math.max(largest, r)
  end
  if not (largest >= fixed.ADD_MIN and largest < fixed.ADD_MAX) then
    refuse("add: the largest ratio s_term * (1/s_out) = %.6g is outside the runtime's range [2^-33, 2^30) "
      .. "(kiln_add_rq: shift 0..%d)", largest, fixed.ADD_SHIFT_MAX)
  end
  local shift = 30 - detmath.floor_log2(largest) - 1
  local m = {}
  for i, r in ipairs(reals) do
    m[i] = math.tointeger(math.floor(r * 2.0 ^ shift + 0.5))
    assert(m[i] < TWO31, "add: weight overflow")
  end
  return { ma = m[1] or 0, mb = m[2] or 0, mc = m[3] or 0, shift = shift, reals = reals }
end

-- norm_rq(sx, sg, inv_sy, n, eps, max_dev) -> kiln_norm_rq constants for
-- RMSNorm over n values on grid sx (|q - zp| <= max_dev), gamma on sg, output
-- on a grid whose reciprocal scale is inv_sy:
--   gain = sg * sqrt(n) * inv_sy, eps_term = n * eps / sx^2 in Q(frac_bits),
-- with frac_bits even and n * max_dev^2 * 2^frac_bits + eps_term < 2^62.
function fixed.norm_rq(sx, sg, inv_sy, n, eps, max_dev)
  local peak = n * max_dev * max_dev
  local eps_codes = n * eps / (sx * sx) -- eps in the input's squared codes
  if not (peak + eps_codes < fixed.NORM_SUM_MAX) then
    refuse("RMSNorm's eps term n * eps / s_in^2 = %.6g (s_in %.6g) does not fit the runtime's int64 sum "
      .. "(kiln_norm_rq: below 2^61)", eps_codes, sx)
  end
  local frac = 0
  while (peak + eps_codes) * 2.0 ^ (frac + 2) < 2.0 ^ 61 do frac = frac + 2 end
  local eps_term = math.floor(eps_codes * 2.0 ^ frac + 0.5)
  return {
    gain = fixed.rq(sg * math.sqrt(n) * inv_sy, "RMSNorm gain s_gamma * sqrt(n) * (1/s_out)"),
    eps_term = math.tointeger(eps_term),
    frac_bits = frac,
  }
end

-- exp_lut(step, max_d) -> { lo = [256], hi = [256] or nil, max_d }: exp(-d * step)
-- in Q31 for d in [0, max_d], as lo[d % 256] * hi[d // 256] / 2^31.
-- Entries are rounded to nearest; values below 2^-32 are 0.
function fixed.exp_lut(step, max_d)
  local function q31(x)
    local v = math.floor(detmath.exp(-x) * TWO31 + 0.5)
    return math.tointeger(v)
  end
  local lo, hi = {}, nil
  for j = 0, 255 do lo[j + 1] = q31(j * step) end
  if max_d >= 256 then
    hi = {}
    for i = 0, 255 do hi[i + 1] = q31(i * 256 * step) end
  end
  -- beyond this distance every product rounds to 0: the first d with
  -- exp(-d step) 2^31 < 1/2, that is d step > 32 ln 2, found near its
  -- estimate and checked
  local function negligible(d) return detmath.exp(-d * step) * TWO31 < 0.5 end
  local d = math.max(0, math.floor(32 * 0.6931471805599453 / step) - 2)
  while d > 0 and negligible(d - 1) do d = d - 1 end
  while d <= max_d and not negligible(d) do d = d + 1 end
  local limit = math.min(max_d, d - 1)
  return { lo = lo, hi = hi, max_d = limit }
end

-- lookup_table(in_grid, out_grid, fn) -> the output code for every input
-- code of an input grid with at most 256 levels: out = FQ(fn(dequant(q))),
-- fn evaluated in float32 as TICO evaluates it.
function fixed.lookup_table(in_grid, out_grid, fn)
  local t = {}
  for q = in_grid.qmin, in_grid.qmax do
    local x = f32.mul(q - in_grid.zero_point, in_grid.scale)
    t[#t + 1] = math.tointeger(qparams.quantize(f32.round(fn(x)), out_grid.scale, out_grid.zero_point,
      out_grid.qmin, out_grid.qmax))
  end
  return t
end

function fixed.sigmoid(x)
  return 1.0 / (1.0 + detmath.exp(-x))
end

return fixed
