-- IEEE-754 binary32 ("float32") emulation on top of Lua's doubles.
--
-- kiln must reproduce TICO's quantization parameters bit for bit, and TICO
-- computes them with float32 torch tensors (tico-semantics.md §2.3, §2.4).
-- Lua only has doubles, so every float32 operation is done here as "compute in
-- double, then round to the nearest float32". For + - * / on float32 operands
-- that is exact: a double carries 53 bits >= 2*24 + 2, so the double result
-- rounded once more to 24 bits equals the correctly rounded float32 result
-- (double rounding is innocuous at that precision). It is NOT exact for
-- longer expressions, so callers round after every single operation, the way
-- a float32 kernel would.
--
-- Every function takes Lua numbers (integers are converted) and returns floats.

local f32 = {}

-- Largest finite float32, and the halfway point between it and 2^128: from
-- there on round-to-nearest-even goes to infinity (FLT_MAX has an odd
-- significand, so the tie goes up to 2^128 = overflow).
f32.MAX = 0x1.fffffep127
local OVERFLOW = 0x1.ffffffp127

local TWO52 = 2.0 ^ 52

-- f32.round(x) -> the float32 value nearest to x (ties to even), as a double.
-- string.pack("f") does a C (float) conversion, which rounds to nearest under
-- the default rounding mode; out-of-range values are undefined behaviour in
-- C, so overflow is decided here before packing. NaN and +-inf pass through,
-- and the sign of zero is kept.
function f32.round(x)
  if x ~= x then return x end
  if x >= OVERFLOW then return math.huge end
  if x <= -OVERFLOW then return -math.huge end
  return (string.unpack("<f", string.pack("<f", x)))
end

-- Converting to float first keeps Lua from doing integer arithmetic (which
-- wraps around instead of rounding) when both operands are integers.
function f32.add(a, b) return f32.round((a + 0.0) + b) end
function f32.sub(a, b) return f32.round((a + 0.0) - b) end
function f32.mul(a, b) return f32.round((a + 0.0) * b) end
function f32.div(a, b) return f32.round(a / b) end

-- f32.round_half_even(x) -> x rounded to an integer-valued float, ties to
-- even: C nearbyint()/rint() in the default mode, torch.round. Adding and
-- subtracting 2^52 makes the FPU do the rounding: for |x| < 2^52 the sum has
-- no fraction bits left, so the hardware's round-to-nearest-even picks the
-- integer. From 2^52 up every double is already an integer. Like nearbyint,
-- it keeps the sign of a zero result (-0.3 -> -0) and passes NaN/inf through.
function f32.round_half_even(x)
  x = x + 0.0
  if x ~= x or x >= TWO52 or x <= -TWO52 then return x end
  local r
  if x >= 0 then
    r = (x + TWO52) - TWO52
  else
    r = (x - TWO52) + TWO52
  end
  if r == 0 then
    -- 1/x tells -0.0 from 0.0; x itself may be -0.0 or a small negative.
    if x < 0 or 1 / x < 0 then return -0.0 end
    return 0.0
  end
  return r
end

-- f32.bits(x) -> the 32-bit pattern of f32.round(x) as an integer, and
-- f32.from_bits(u) -> the float32 with that pattern. Used to state and check
-- exact values ("scale is 0x3C808081") without trusting decimal printing.
function f32.bits(x)
  return (string.unpack("<I4", string.pack("<f", f32.round(x))))
end

function f32.from_bits(u)
  return (string.unpack("<f", string.pack("<I4", u)))
end

-- f32.format(x) -> the shortest "%.Ng" text (N from 6 to 9) that reads back
-- to the float32 nearest x. Nine significant digits always suffice for a
-- float32; starting at six keeps moderate numbers out of exponent notation
-- ("%.1g" would write 100 as "1e+02"). The text is a valid JSON and C number:
--   * integer-valued floats print without a fraction ("1", "16777216"); a
--     JSON reader may hand them back as integers, which have the same value.
--   * negative zero prints as "-0.0", not "-0": many readers (Python's json,
--     C integer literals) read "-0" as integer zero and lose the sign, while
--     "-0.0" keeps it everywhere. (kiln's scales are never zero; this only
--     matters for data values.)
--   * inf and NaN have no JSON spelling, so they are refused with error():
--     kiln refuses non-finite qparams long before anything is written.
function f32.format(x)
  local v = f32.round(x)
  if v ~= v or v == math.huge or v == -math.huge then
    error("f32.format: non-finite value " .. tostring(v))
  end
  if v == 0 then
    if 1 / v < 0 then return "-0.0" end
    return "0"
  end
  for digits = 6, 9 do
    local s = string.format("%." .. digits .. "g", v)
    if f32.round(tonumber(s)) == v then return s end
  end
  -- Unreachable for a float32 (9 digits always round-trip).
  error("f32.format: no round-tripping text for " .. string.format("%a", v))
end

return f32
