-- Fixed-point constants for the integer kernels, computed at generation time.
--
-- The runtime never sees a scale: every ratio of scales becomes a kiln_rq
-- (mult in [2^30, 2^31), shift) with value mult * 2^-shift, and every
-- nonlinearity a table. Lua numbers are doubles; scales are float32 values,
-- so their products and ratios are computed exactly enough (53 bits) before
-- being rounded to 31.

local f32 = require "util.f32"
local detmath = require "util.detmath"
local qparams = require "calib.qparams"

local fixed = {}

local TWO31 = 2147483648 -- 2^31 (1.0 in Q31)

-- rq(real) -> { mult, shift } with mult * 2^-shift = real to 31 bits.
function fixed.rq(real)
  -- (the messages are built only on failure: rq runs once per weight row)
  if not (real > 0 and real < math.huge) then
    error("multiplier must be positive and finite: " .. tostring(real), 0)
  end
  local shift = 30 - detmath.floor_log2(real)
  local mult = math.floor(real * 2.0 ^ shift + 0.5) -- in [2^30, 2^31]
  if mult == TWO31 then mult, shift = TWO31 // 2, shift - 1 end
  if not (shift >= 0 and shift < 96) then
    error("multiplier out of the runtime's range: " .. tostring(real), 0)
  end
  return { mult = math.tointeger(mult), shift = shift, real = real }
end

-- add_rq(reals) -> { ma, mb, mc, shift }: integer weights over one shift so
-- that sum(q_i * m_i) / 2^shift = sum(q_i * real_i). The largest weight gets
-- 30 bits; |q| < 2^17 keeps every product below 2^48.
function fixed.add_rq(reals)
  local largest = 0
  for _, r in ipairs(reals) do largest = math.max(largest, r) end
  local shift = 30 - detmath.floor_log2(largest) - 1
  assert(shift >= 0 and shift <= 62, "add: ratio out of range")
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
  local frac = 0
  while (peak + n * eps / (sx * sx)) * 2.0 ^ (frac + 2) < 2.0 ^ 61 do frac = frac + 2 end
  local eps_term = math.floor(n * eps / (sx * sx) * 2.0 ^ frac + 0.5)
  return {
    gain = fixed.rq(sg * math.sqrt(n) * inv_sy),
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
