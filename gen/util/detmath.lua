-- Elementary functions with the same bits on every machine, for what the
-- generator computes with them: the synthetic model's weights, the exp tables
-- and multipliers of the generated constants, printed statistics.
-- (runtime/float/kiln_math.c is the C side's counterpart, for the float
-- references.)
--
-- libm's log/exp/cos are only faithful to about 1 ulp, and their last bit
-- differs between C libraries, and between the FMA and SSE2 variants glibc
-- picks from the CPU. That is enough to flip a float32 rounding now and then.
-- These versions use only + - * /. IEEE 754 rounds those exactly the same way
-- everywhere, and Lua runs each one as a separate step, so nothing gets fused.

local detmath = {}

local LN2 = 0.6931471805599453
local SQRT2 = 1.4142135623730951
local TWO_PI = 6.283185307179586
detmath.TWO_PI = TWO_PI

function detmath.log(x)
  assert(x > 0)
  local e = 0
  -- Scaling by 2 is exact. Bring x into [sqrt(1/2), sqrt(2)).
  while x >= SQRT2 do x = x * 0.5; e = e + 1 end
  while x < SQRT2 * 0.5 do x = x * 2; e = e - 1 end
  -- log(x) = 2 atanh(s) with s = (x-1)/(x+1), |s| <= 0.172. 13 terms reach 1e-21.
  local s = (x - 1) / (x + 1)
  local s2, term, sum = s * s, s, s
  for k = 3, 27, 2 do
    term = term * s2
    sum = sum + term / k
  end
  return 2 * sum + e * LN2
end

function detmath.exp(y)
  -- Far outside double's range the scaling loops below would run for ages
  -- (a grid scale of 1e10 asks for exp(-6.5e14)) to reach what these give:
  -- past |y| = 1100 the result is below half the smallest denormal, or above
  -- the largest double, whatever the Taylor sum.
  if y < -1100 then return 0.0 end
  if y > 1100 then return math.huge end
  -- exp(y) = 2^k exp(r) with |r| <= ln2/2. The Taylor series up to r^20 is enough.
  local k = math.floor(y / LN2 + 0.5)
  local r = y - k * LN2
  local term, sum = 1.0, 1.0
  for n = 1, 20 do
    term = term * r / n
    sum = sum + term
  end
  for _ = 1, k do sum = sum * 2 end
  for _ = k, -1 do sum = sum * 0.5 end
  return sum
end

-- cos and sin of 2*pi*t (t in turns). Works from the quadrant nearest to t,
-- so the series only ever sees |x| <= pi/4.
function detmath.cos_sin_turns(t)
  t = t - math.floor(t)
  local q = math.floor(t * 4 + 0.5)
  local x = (t - q * 0.25) * TWO_PI
  local x2 = x * x
  local s, c = x, 1.0
  local ts, tc = x, 1.0
  for n = 1, 9 do
    ts = -ts * x2 / ((2 * n) * (2 * n + 1))
    tc = -tc * x2 / ((2 * n - 1) * (2 * n))
    s = s + ts
    c = c + tc
  end
  q = q % 4
  if q == 0 then return c, s
  elseif q == 1 then return -s, c
  elseif q == 2 then return -c, -s
  else return s, -c end
end

-- floor(log2(x)) of a positive finite double, exactly: math.log's estimate,
-- corrected against powers of two (2.0 ^ e is exact).
function detmath.floor_log2(x)
  if not (x > 0 and x < math.huge) then error("floor_log2 of " .. tostring(x), 2) end
  local e = math.floor(math.log(x, 2))
  while 2.0 ^ e > x do e = e - 1 end
  while 2.0 ^ (e + 1) <= x do e = e + 1 end
  return e
end

return detmath
