-- Unit tests for util.f32 and calib.qparams.
--
-- Every expected value below is worked out by hand from tico-semantics.md
-- §2.1-§2.4 (formulas) and IEEE-754 float32 rounding, with the derivation in
-- the comment beside it. Exact float32 results are stated as bit patterns
-- (f32.bits), so a test cannot pass through a lucky decimal print.
-- Notation: f32(v) = v rounded to the nearest float32; ulp(x) = spacing of
-- float32 values around x (2^-23 relative: 2^-16 on [128,256), 2^-17 on
-- [64,128), 2^-21 on [4,8), 2^-22 on [2,4), 2^-23 on [1,2)).

local f32 = require "util.f32"
local qparams = require "calib.qparams"

local function bits(x) return f32.bits(x) end

-- Asserts compute() succeeded with a float32 scale of the given bit pattern
-- and the given integer zero point.
local function expect_qp(scale_bits, zp, scale, got_zp)
  assert.is_number(scale, "expected a scale, got error: " .. tostring(got_zp))
  assert.are.equal(f32.round(scale), scale) -- the scale is a float32 value
  assert.are.equal(string.format("0x%08X", scale_bits), string.format("0x%08X", bits(scale)))
  assert.are.equal("integer", math.type(got_zp))
  assert.are.equal(zp, got_zp)
end

describe("f32", function()
  describe("round", function()
    it("rounds to the nearest float32", function()
      -- 0.1 = 1.6 * 2^-4; 1.6 in binary is 1.1001 1001 ...; the 23-bit
      -- fraction 0x4CCCCC is followed by 1100..., more than half: round up to
      -- 0x4CCCCD. Exponent -4 -> 123 = 0x7B: 0x3DCCCCCD.
      assert.are.equal(0x3DCCCCCD, bits(0.1))
      assert.are.equal(0.100000001490116119384765625, f32.round(0.1))
      -- 1/3 = 1.0101...b * 2^-2: fraction 0x2AAAAA then 1010...: up -> 0x3EAAAAAB.
      assert.are.equal(0x3EAAAAAB, bits(1 / 3))
    end)

    it("breaks ties to even", function()
      -- Above 2^24 the float32 spacing is 2: 2^24 + 1 is halfway between 2^24
      -- (even significand) and 2^24 + 2 (odd): -> 2^24.
      assert.are.equal(16777216.0, f32.round(16777217))
      -- 2^24 + 3 is halfway between 2^24 + 2 (odd) and 2^24 + 4 (even): -> +4.
      assert.are.equal(16777220.0, f32.round(16777219))
    end)

    it("overflows to infinity exactly past the FLT_MAX halfway point", function()
      local max = 0x1.fffffep127 -- FLT_MAX = (2 - 2^-23) * 2^127
      assert.are.equal(max, f32.MAX)
      assert.are.equal(max, f32.round(max))
      -- A quarter ulp above FLT_MAX: nearer to FLT_MAX.
      assert.are.equal(max, f32.round(0x1.fffffe8p127))
      -- Exactly halfway to 2^128: FLT_MAX's significand is odd, so the tie
      -- goes up to 2^128, which does not exist: infinity.
      assert.are.equal(math.huge, f32.round(0x1.ffffffp127))
      assert.are.equal(math.huge, f32.round(1e39))
      assert.are.equal(-math.huge, f32.round(-1e39))
    end)

    it("passes inf, NaN and the sign of zero through", function()
      assert.are.equal(math.huge, f32.round(math.huge))
      assert.are.equal(-math.huge, f32.round(-math.huge))
      local nan = f32.round(0 / 0)
      assert.is_true(nan ~= nan)
      assert.are.equal(-math.huge, 1 / f32.round(-0.0))
      assert.are.equal(math.huge, 1 / f32.round(0.0))
    end)

    it("rounds into the subnormal range", function()
      -- The smallest float32 is 2^-149. 2^-150 is halfway between 0 (even)
      -- and 2^-149 (odd): -> 0. 1.5 * 2^-150 = 0.75 * 2^-149: -> 2^-149.
      assert.are.equal(0.0, f32.round(2.0 ^ -150))
      assert.are.equal(2.0 ^ -149, f32.round(1.5 * 2.0 ^ -150))
      assert.are.equal(1, bits(2.0 ^ -149))
    end)

    it("round-trips bit patterns", function()
      assert.are.equal(0x3C808081, bits(f32.from_bits(0x3C808081)))
      assert.are.equal(1.0, f32.from_bits(0x3F800000))
    end)
  end)

  describe("arithmetic", function()
    it("rounds each result to float32", function()
      -- 2^24 + 1 is a tie between 2^24 and 2^24 + 2: even -> 2^24.
      assert.are.equal(16777216.0, f32.add(16777216, 1))
      -- 1 + 2^-24 is half an ulp(1) = 2^-23 above 1: tie -> 1 (even).
      assert.are.equal(1.0, f32.add(1, 2.0 ^ -24))
      -- 1 - 2^-25 is half an ulp below 1 (ulp on [0.5,1) is 2^-24): tie
      -- between 1 - 2^-24 (odd) and 1 (even) -> 1.
      assert.are.equal(1.0, f32.sub(1, 2.0 ^ -25))
      -- f32(0.1) * 3 = 0.300000004470348...; float32 neighbours on [0.25,0.5)
      -- are 2^-25 apart: 0x3E99999A = 0.300000011920929 is 7.45e-9 away,
      -- 0x3E999999 = 0.299999982118607 is 2.24e-8 away -> 0x3E99999A.
      assert.are.equal(0x3E99999A, bits(f32.mul(f32.round(0.1), 3)))
      -- 1/3: see round above.
      assert.are.equal(0x3EAAAAAB, bits(f32.div(1, 3)))
    end)

    it("does not do wrapping integer arithmetic on integer operands", function()
      -- maxinteger * 2 as integers wraps to -2; as floats it is ~2^64,
      -- which is a float32 (a power of two).
      assert.are.equal(2.0 ^ 64, f32.mul(math.maxinteger, 2))
      assert.are.equal(2.0 ^ 64, f32.add(math.maxinteger, math.maxinteger))
    end)
  end)

  describe("round_half_even", function()
    it("rounds ties to even like torch.round / nearbyint", function()
      local input = { 0.5, 1.5, 2.5, -1.5, -2.5 }
      local want = { 0, 2, 2, -2, -2 }
      for i, x in ipairs(input) do
        assert.are.equal(want[i], f32.round_half_even(x))
      end
    end)

    it("rounds non-ties to nearest", function()
      assert.are.equal(3.0, f32.round_half_even(2.5000001))
      assert.are.equal(-3.0, f32.round_half_even(-2.7))
      assert.are.equal(63.0, f32.round_half_even(63.4999))
      -- The largest double below 0.5: x + 0.5 would round up to 1 in
      -- double, a naive floor(x + 0.5) gives 1; nearbyint gives 0.
      assert.are.equal(0.0, f32.round_half_even(0.49999999999999994))
    end)

    it("keeps integers, huge values, NaN and the sign of zero", function()
      assert.are.equal(7.0, f32.round_half_even(7))
      assert.are.equal("float", math.type(f32.round_half_even(7)))
      assert.are.equal(2.0 ^ 52 + 1, f32.round_half_even(2.0 ^ 52 + 1))
      assert.are.equal(1e300, f32.round_half_even(1e300))
      assert.are.equal(-math.huge, f32.round_half_even(-math.huge))
      local nan = f32.round_half_even(0 / 0)
      assert.is_true(nan ~= nan)
      -- nearbyint(-0.3) = -0.0; nearbyint(-0.5) = -0.0 (tie to even 0).
      assert.are.equal(-math.huge, 1 / f32.round_half_even(-0.3))
      assert.are.equal(-math.huge, 1 / f32.round_half_even(-0.5))
      assert.are.equal(math.huge, 1 / f32.round_half_even(0.3))
    end)
  end)

  describe("format", function()
    it("writes the shortest text that reads back to the same float32", function()
      -- f32(0.1) needs 6 digits at most: "%.6g" gives "0.1", which reads back
      -- as 0.1 and rounds to the same float32.
      assert.are.equal("0.1", f32.format(0.1))
      assert.are.equal("0.1", f32.format(f32.round(0.1)))
      -- f32(1/3) = 0.3333333432674407: 0.333333 and 0.3333333 (6, 7 digits)
      -- are other float32s; 8 digits "0.33333334" is the nearest-rounded.
      assert.are.equal("0.33333334", f32.format(1 / 3))
      assert.are.equal("-2.5", f32.format(-2.5))
      -- TICO's uint8 scale for range 4: 0.0156862754374742507934570...
      assert.are.equal("0.015686275", f32.format(f32.from_bits(0x3C808081)))
      -- f32(1e-4) = 9.99999974737875e-05: %.6g is "0.0001", which rounds back.
      assert.are.equal("0.0001", f32.format(1e-4))
    end)

    it("writes integer-valued floats without a fraction", function()
      assert.are.equal("1", f32.format(1.0))
      assert.are.equal("255", f32.format(255))
      -- %.6g..%.7g of 2^24 are 1.67772e+07 / 1.677722e+07 (other float32s);
      -- %.8g gives all 8 digits.
      assert.are.equal("16777216", f32.format(16777216))
    end)

    it("handles zero, extremes and refuses non-finite values", function()
      assert.are.equal("0", f32.format(0.0))
      -- Negative zero keeps its sign in a form JSON and C readers keep.
      assert.are.equal("-0.0", f32.format(-0.0))
      -- FLT_MAX = 3.40282346639e38, ulp there 2^104 = 2.03e31: %.8g's
      -- 3.4028235e38 is 3.4e30 away (< half an ulp) and reads back; %.7g's
      -- 3.402823e38 is 4.7e31 away (another float32).
      assert.are.equal("3.4028235e+38", f32.format(f32.MAX))
      -- 2^-149 = 1.40129846e-45; subnormals there are 1.4e-45 apart, so the
      -- %.6g text 1.4013e-45 (1e-50 away) reads back already.
      assert.are.equal("1.4013e-45", f32.format(2.0 ^ -149))
      assert.has_error(function() f32.format(math.huge) end)
      assert.has_error(function() f32.format(-math.huge) end)
      assert.has_error(function() f32.format(0 / 0) end)
    end)

    it("round-trips float32 values across the whole range as JSON numbers", function()
      -- JSON number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
      local function is_json_number(s)
        local rest = s:gsub("^%-", "")
        local int, tail = rest:match("^(%d+)(.*)$")
        if not int or (#int > 1 and int:sub(1, 1) == "0") then return false end
        tail = tail:gsub("^%.%d+", "")
        tail = tail:gsub("^[eE][%+%-]?%d+", "")
        return tail == ""
      end
      local checked = 0
      -- Walk the bit patterns with an odd stride (covers every exponent,
      -- subnormals included); skip inf/NaN (exponent all ones).
      for u = 1, 0xFFFFFFFF, 0x0001F3A7 do
        local x = f32.from_bits(u)
        if x == x and x ~= math.huge and x ~= -math.huge then
          local s = f32.format(x)
          assert(f32.round(tonumber(s)) == x, s)
          assert(is_json_number(s), s)
          assert(#s <= 15, s) -- 9 digits, sign, point, exponent at most
          checked = checked + 1
        end
      end
      assert.is_true(checked > 30000)
    end)
  end)
end)

describe("qparams", function()
  local D = qparams.DTYPES

  describe("DTYPES", function()
    it("has TICO's integer ranges (§2.1)", function()
      -- uintB: [0, 2^B - 1]; intB: [-2^(B-1), 2^(B-1) - 1].
      local want = {
        uint8 = { 8, false, 0, 255 },
        int8 = { 8, true, -128, 127 },
        int16 = { 16, true, -32768, 32767 },
        uint4 = { 4, false, 0, 15 },
        int4 = { 4, true, -8, 7 },
      }
      local n = 0
      for name, w in pairs(want) do
        local d = D[name]
        assert.are.same({ w[1], w[2], w[3], w[4] }, { d.bits, d.signed, d.qmin, d.qmax })
        assert.are.equal(name, d.name)
        assert.are.equal("integer", math.type(d.qmin))
        n = n + 1
      end
      local have = 0
      for _ in pairs(D) do have = have + 1 end
      assert.are.equal(n, have)
    end)

    it("lists the four qschemes", function()
      local Q = qparams.QSCHEMES
      assert.is_true(Q.per_tensor_symm.symmetric and not Q.per_tensor_symm.per_channel)
      assert.is_true(not Q.per_tensor_asymm.symmetric and not Q.per_tensor_asymm.per_channel)
      assert.is_true(Q.per_channel_symm.symmetric and Q.per_channel_symm.per_channel)
      assert.is_true(not Q.per_channel_asymm.symmetric and Q.per_channel_asymm.per_channel)
    end)
  end)

  describe("check", function()
    it("accepts valid pairs", function()
      assert.is_nil(qparams.check("uint8", "per_tensor_asymm"))
      assert.is_nil(qparams.check("uint4", "per_channel_asymm"))
      assert.is_nil(qparams.check("int16", "per_tensor_symm"))
      assert.is_nil(qparams.check("int16", "per_channel_asymm"))
      -- Signed with asymmetric is allowed (TICO's int16 Linear weight).
      assert.is_nil(qparams.check("int8", "per_tensor_asymm"))
      assert.is_nil(qparams.check(D.int4, qparams.QSCHEMES.per_channel_symm))
    end)

    it("rejects unsigned with symmetric, as TICO's config does", function()
      local msg = qparams.check("uint8", "per_tensor_symm")
      assert.is_string(msg)
      assert.matches("unsigned dtype uint8", msg, 1, true)
      assert.matches("symmetric qscheme per_tensor_symm", msg, 1, true)
      assert.is_string(qparams.check("uint4", "per_channel_symm"))
    end)

    it("rejects unknown names and lists the known ones", function()
      local msg = qparams.check("uint16", "per_tensor_asymm")
      assert.matches("unknown dtype 'uint16'", msg, 1, true)
      assert.matches("int16, int4, int8, uint4, uint8", msg, 1, true)
      assert.matches("unknown dtype 'fp16'", qparams.check("fp16", "per_tensor_symm"), 1, true)
      msg = qparams.check("int8", "per_tensor")
      assert.matches("unknown qscheme 'per_tensor'", msg, 1, true)
      assert.matches("per_channel_asymm, per_channel_symm, per_tensor_asymm, per_tensor_symm", msg, 1, true)
      assert.is_string(qparams.check(nil, "per_tensor_symm"))
      assert.is_string(qparams.check("int8", nil))
    end)
  end)

  describe("auto_qscheme", function()
    it("follows auto_qscheme_for", function()
      assert.are.equal("per_tensor_symm", qparams.auto_qscheme("int16", false))
      assert.are.equal("per_tensor_symm", qparams.auto_qscheme("int8", true))
      assert.are.equal("per_tensor_symm", qparams.auto_qscheme("int4", true))
      assert.are.equal("per_tensor_asymm", qparams.auto_qscheme("uint8", false))
      assert.are.equal("per_tensor_asymm", qparams.auto_qscheme("uint8"))
      assert.are.equal("per_channel_asymm", qparams.auto_qscheme("uint8", true))
      assert.are.equal("per_channel_asymm", qparams.auto_qscheme("uint4", true))
      local q, msg = qparams.auto_qscheme("uint3", true)
      assert.is_nil(q)
      assert.matches("unknown dtype 'uint3'", msg, 1, true)
    end)
  end)

  describe("compute, asymmetric", function()
    it("uint8, min -1, max 3", function()
      -- rng = 4; scale = f32(4/255). 4/255 = 2^-6 * (1 + 1/255) and
      -- 1/255 = 0.00000001 00000001 00000001 1...b: fraction bits 8 and 16
      -- set (0x008080), the rest 1 0000000 1...: above half, round up:
      -- 0x008081; exponent -6 -> 121: scale = 0x3C808081 = 0.0156862754.
      -- min/scale = -63.7499962 -> f32 -63.749996185 (ulp on [32,64) is
      -- 2^-18 = 3.8e-6).
      -- zp = round(0 - (-63.749996)) = round(63.749996) = 64.
      expect_qp(0x3C808081, 64, qparams.compute("uint8", "per_tensor_asymm", -1, 3))
    end)

    it("uint4, min -0.5, max 1", function()
      -- rng = 1.5; scale = f32(1.5/15) = f32(0.1) = 0x3DCCCCCD = 0.10000000149.
      -- -0.5/scale = -4.99999992549; ulp on [4,8) is 4.77e-7, the distance
      -- to 5 is 7.5e-8 < half an ulp -> f32 -5.0. zp = round(0 + 5) = 5.
      expect_qp(0x3DCCCCCD, 5, qparams.compute("uint4", "per_tensor_asymm", -0.5, 1))
    end)

    it("int4 (signed) asymmetric, min -1, max 2", function()
      -- rng = 3; qmax - qmin = 7 - (-8) = 15; scale = f32(3/15) = f32(0.2)
      -- = 0x3E4CCCCD = 0.200000003. -1/scale = -4.99999992549 -> f32 -5.0
      -- (as above). zp = round(-8 - (-5)) = -3.
      expect_qp(0x3E4CCCCD, -3, qparams.compute("int4", "per_tensor_asymm", -1, 2))
    end)

    it("min > 0: the range is forced to include 0 and zp clamps to qmin", function()
      -- uint8, min 1, max 3: min > 0 so rng = max = 3 (not 2).
      -- scale = f32(3/255) = f32(1/85) = 0x3C40C0C1 = 0.0117647061 (1/85 =
      -- 0.0117647058...). 1/scale = 84.9999983 -> f32 85.0 (ulp 7.6e-6).
      -- zp = round(0 - 85) = -85 -> clamp to qmin 0.
      expect_qp(0x3C40C0C1, 0, qparams.compute("uint8", "per_tensor_asymm", 1, 3))
      -- Same with int8: zp = round(-128 - 85) = -213 -> clamp to -128.
      expect_qp(0x3C40C0C1, -128, qparams.compute("int8", "per_tensor_asymm", 1, 3))
    end)

    it("max < 0: the range is -min and zp lands on qmax", function()
      -- uint8, min -3, max -1: max < 0 so rng = -min = 3; scale = 0x3C40C0C1
      -- as above. -3/scale = -254.999995 -> f32 -255.0 (ulp on [128,256) is
      -- 2^-16 = 1.5e-5, distance 5e-6 < half). zp = round(0 + 255) = 255.
      expect_qp(0x3C40C0C1, 255, qparams.compute("uint8", "per_tensor_asymm", -3, -1))
      -- int8, min -2, max -1: rng = 2, scale = f32(2/255) = 0x3C008081 (the
      -- 4/255 pattern, exponent one lower) = 0.00784313772.
      -- -2/scale = -254.9999849 -> f32 -(255 - 2^-16) = -254.99998474.
      -- -128 + 254.99998474 = 126.99998474 (exact: 127 - 2^-16 fits the
      -- 2^-17 ulp on [64,128)). zp = round(126.99998) = 127 = qmax.
      expect_qp(0x3C008081, 127, qparams.compute("int8", "per_tensor_asymm", -2, -1))
    end)

    it("rounds a zero-point tie to even", function()
      -- uint8, min -0.15625 (= -2.5/16), max 15.78125: rng = 15.9375 = 255/16
      -- exactly, scale = 1/16 = 0x3D800000 exactly. min/scale = -2.5 exactly;
      -- 0 - (-2.5) = 2.5, a tie: half-to-even -> 2 (half-up would give 3).
      expect_qp(0x3D800000, 2, qparams.compute("uint8", "per_tensor_asymm", -0.15625, 15.78125))
      -- min -0.21875 (= -3.5/16), max 15.71875: rng = 255/16, scale 1/16;
      -- zp = round(3.5) = 4 (even, here the tie goes up).
      expect_qp(0x3D800000, 4, qparams.compute("uint8", "per_tensor_asymm", -0.21875, 15.71875))
      -- int8 with the first range: -128 + 2.5 = -125.5 (exact) -> -126 (even).
      expect_qp(0x3D800000, -126, qparams.compute("int8", "per_tensor_asymm", -0.15625, 15.78125))
    end)
  end)

  describe("compute, constant tensor (per-tensor asymmetric only)", function()
    it("|C| <= 1e-8: scale 1, zp 0", function()
      -- rng = 0 < f32(1e-8); C = 0: allclose(C, 0) -> scale 1, zp 0.
      expect_qp(0x3F800000, 0, qparams.compute("uint8", "per_tensor_asymm", 0, 0))
      -- C = f32(5e-9): |C| <= f32(1e-8) -> same.
      expect_qp(0x3F800000, 0, qparams.compute("uint8", "per_tensor_asymm", 5e-9, 5e-9))
    end)

    it("C > 0: scale C, zp 0", function()
      -- 2.5 = 0x40200000.
      expect_qp(0x40200000, 0, qparams.compute("uint8", "per_tensor_asymm", 2.5, 2.5))
      expect_qp(0x40200000, 0, qparams.compute("int8", "per_tensor_asymm", 2.5, 2.5))
    end)

    it("C < 0: scale |C|, zp qmax", function()
      expect_qp(0x40200000, 255, qparams.compute("uint8", "per_tensor_asymm", -2.5, -2.5))
      expect_qp(0x40200000, 7, qparams.compute("int4", "per_tensor_asymm", -2.5, -2.5))
      -- A nonzero range below the tolerance still counts as constant, and
      -- C is min_val: min f32(-1.05e-7) = -0x33E17C5C, max f32(-1e-7):
      -- rng = 5.0e-9 < f32(1e-8); |C| = 1.05e-7 > 1e-8; C < 0 ->
      -- scale |C| = 0x33E17C5C, zp 255. Mirrored (min 1e-7, max 1.05e-7):
      -- C = f32(1e-7) > 0 -> scale 0x33D6BF95, zp 0.
      expect_qp(0x33E17C5C, 255, qparams.compute("uint8", "per_tensor_asymm", -1.05e-7, -1e-7))
      expect_qp(0x33D6BF95, 0, qparams.compute("uint8", "per_tensor_asymm", 1e-7, 1.05e-7))
      -- Near zero: min -3e-9, max -1e-9: |C| <= f32(1e-8) -> scale 1, zp 0.
      expect_qp(0x3F800000, 0, qparams.compute("uint8", "per_tensor_asymm", -3e-9, -1e-9))
    end)

    it("compares against float32(1e-8), which is below 1e-8", function()
      -- f32(1e-8) = 9.99999994e-9 < 1e-8. With min 0, max f32(1e-8):
      -- rng = f32(1e-8) and torch evaluates rng < 1e-8 in float32, i.e.
      -- f32(1e-8) < f32(1e-8): false -> not constant. General branch:
      -- min = 0 so rng stays; f32(1e-8)/255 = 3.9e-11 is floored to
      -- f32(1e-8) = 0x322BCC77; zp = round(0 - 0/scale) = 0. A double
      -- comparison would have taken the constant branch and given scale 1.
      local tol = f32.round(1e-8)
      assert.is_true(tol < 1e-8)
      assert.are.equal(tol, qparams.CONST_TOL)
      expect_qp(0x322BCC77, 0, qparams.compute("uint8", "per_tensor_asymm", 0, tol))
      -- One float32 below f32(1e-8) is constant again: C = 0 -> (1, 0).
      local below = f32.from_bits(bits(tol) - 1)
      expect_qp(0x3F800000, 0, qparams.compute("uint8", "per_tensor_asymm", 0, below))
    end)

    it("applies to a per_channel_* label without channels (TICO's RMSNorm weight)", function()
      -- channel_axis None makes TICO take the per-tensor path even though
      -- the qscheme says per-channel: C = 2.5 -> (2.5, 0).
      expect_qp(0x40200000, 0, qparams.compute("uint8", "per_channel_asymm", 2.5, 2.5))
    end)
  end)

  describe("compute, symmetric", function()
    it("int8, min -2, max 1: scale = max|.| / qmax", function()
      -- max_abs = 2; scale = f32(2/127) = 0x3C810204 = 0.0157480314; zp 0.
      expect_qp(0x3C810204, 0, qparams.compute("int8", "per_tensor_symm", -2, 1))
    end)

    it("int16 with an asymmetric range divides by qmax, not qmax - qmin", function()
      -- min -32768, max 100: max_abs = 32768, scale = f32(32768/32767).
      -- 32768/32767 = 1 + 2^-15 + 2^-30 + ...; the 2^-30 part is far below
      -- half an ulp(1) = 2^-24 -> scale = 1 + 2^-15 = 0x3F800100
      -- (= 1.000030517578125). Dividing by 65535 would give ~0.5.
      expect_qp(0x3F800100, 0, qparams.compute("int16", "per_tensor_symm", -32768, 100))
      -- Only max is large: max_abs = |max| = 127 -> scale 127/127 = 1.
      expect_qp(0x3F800000, 0, qparams.compute("int8", "per_tensor_symm", -0.5, 127))
    end)

    it("int4, min -1, max 0.7", function()
      -- max_abs = 1; scale = f32(1/7) = 0x3E124925 = 0.142857149.
      expect_qp(0x3E124925, 0, qparams.compute("int4", "per_tensor_symm", -1, 0.7))
    end)

    it("floors the scale at float32(1e-8) after dividing (TICO 0.3.0)", function()
      -- int16, min = max = 0: 0 / qmax = 0 -> clamp(min=1e-8) on a float32
      -- tensor yields f32(1e-8) = 9.99999994e-9 = 0x322BCC77.
      expect_qp(0x322BCC77, 0, qparams.compute("int16", "per_tensor_symm", 0, 0))
      assert.are.equal(f32.round(1e-8), qparams.EPS)
      -- a tiny range: 1e-4 / 32767 = 3.05e-9 is below the floor -> 1e-8
      expect_qp(0x322BCC77, 0, qparams.compute("int16", "per_tensor_symm", -1e-4, 0))
      -- just above it, the quotient itself: 4e-4 / 32767 = 1.22e-8
      assert.are.equal(f32.div(f32.round(4e-4), 32767), qparams.compute("int16", "per_tensor_symm", 0, 4e-4))
    end)
  end)

  describe("compute, per-channel", function()
    it("asymmetric: elementwise, no constant-tensor branch, eps for all-zero rows", function()
      -- uint8, channels (min, max):
      --  c0 (2.5, 2.5): constant, but per-channel has no special case:
      --     rng 0, min > 0 -> rng = max = 2.5; scale = f32(2.5/255) =
      --     f32(1/102) = 0x3C20A0A1 (0.00980392192). 2.5/scale = 254.999991
      --     -> f32 254.99998474 (255 - 2^-16 is 0.62e-5 away, 255 is 0.9e-5).
      --     zp = round(0 - 254.99998) = -255 -> clamp 0.
      --  c1 (0, 0): rng 0 -> 0/255 = 0, floored to f32(1e-8) = 0x322BCC77;
      --     zp = round(0 - 0/scale) = 0 = qmin.
      --  c2 (-1, 3): as the per-tensor case: 0x3C808081, zp 64.
      local s, z = qparams.compute("uint8", "per_channel_asymm", { 2.5, 0, -1 }, { 2.5, 0, 3 })
      assert.are.equal(3, #s)
      assert.are.equal(3, #z)
      expect_qp(0x3C20A0A1, 0, s[1], z[1])
      expect_qp(0x322BCC77, 0, s[2], z[2])
      expect_qp(0x3C808081, 64, s[3], z[3])
    end)

    it("an all-zero channel gets scale 1e-8 and zp = qmin, for every type", function()
      for dtype, qmin in pairs({ int8 = -128, int16 = -32768, uint4 = 0, uint8 = 0 }) do
        local s, z = qparams.compute(dtype, "per_channel_asymm", { 0 }, { 0 })
        expect_qp(0x322BCC77, qmin, s[1], z[1])
      end
    end)

    it("symmetric: max|.| / qmax per channel", function()
      -- int8 channels: (-1, 0.5) -> max_abs 1 -> f32(1/127) = 0x3C010204;
      -- (0, 0) -> 0, floored to f32(1e-8) = 0x322BCC77; (-0.5, 2) -> max_abs 2
      -- -> f32(2/127) = 0x3C810204. All zp 0.
      local s, z = qparams.compute("int8", "per_channel_symm", { -1, 0, -0.5 }, { 0.5, 0, 2 })
      expect_qp(0x3C010204, 0, s[1], z[1])
      expect_qp(0x322BCC77, 0, s[2], z[2])
      expect_qp(0x3C810204, 0, s[3], z[3])
    end)

    it("names the channel (0-based) whose statistics are unusable", function()
      local s, msg = qparams.compute("uint8", "per_channel_asymm", { -1, 0 / 0 }, { 1, 1 })
      assert.is_nil(s)
      assert.matches("^channel 1: min/max are not finite", msg)
      s, msg = qparams.compute("uint8", "per_channel_asymm", { 3, 0 }, { 1, 1 })
      assert.is_nil(s)
      assert.matches("^channel 0: min > max", msg)
    end)

    it("raises on API misuse", function()
      assert.has_error(function() qparams.compute("uint8", "per_tensor_asymm", { 0 }, { 1 }) end)
      assert.has_error(function() qparams.compute("uint8", "per_channel_asymm", { 0, 0 }, { 1 }) end)
      assert.has_error(function() qparams.compute("uint8", "per_channel_asymm", {}, {}) end)
      assert.has_error(function() qparams.compute("uint8", "per_channel_asymm", 0, { 1 }) end)
    end)
  end)

  describe("compute, unusable statistics", function()
    it("returns nil and a message instead of raising", function()
      local s, msg = qparams.compute("uint8", "per_tensor_asymm", math.huge, -math.huge)
      assert.is_nil(s)
      assert.matches("saw no calibration data", msg, 1, true)
      s, msg = qparams.compute("int16", "per_tensor_symm", math.huge, -math.huge)
      assert.is_nil(s)
      assert.matches("not finite", msg, 1, true)
      s, msg = qparams.compute("uint8", "per_tensor_asymm", 0 / 0, 1)
      assert.is_nil(s)
      assert.matches("not finite", msg, 1, true)
      s, msg = qparams.compute("uint8", "per_tensor_asymm", 2, 1)
      assert.is_nil(s)
      assert.matches("min > max", msg, 1, true)
    end)

    it("refuses a range that overflows float32", function()
      -- 3e38 - (-3e38) = 6e38 > FLT_MAX: rng = inf in float32, scale inf.
      local s, msg = qparams.compute("uint8", "per_tensor_asymm", -3e38, 3e38)
      assert.is_nil(s)
      assert.matches("overflows float32", msg, 1, true)
      -- Symmetric cannot overflow: max_abs / qmax is finite.
      expect_qp(bits(f32.div(f32.round(3e38), 127)), 0, qparams.compute("int8", "per_tensor_symm", -3e38, 3e38))
    end)

    it("refuses invalid dtype/qscheme pairs", function()
      local s, msg = qparams.compute("uint8", "per_tensor_symm", -1, 1)
      assert.is_nil(s)
      assert.matches("unsigned dtype", msg, 1, true)
      s, msg = qparams.compute("int32", "per_tensor_symm", -1, 1)
      assert.is_nil(s)
      assert.matches("unknown dtype", msg, 1, true)
    end)
  end)

  describe("fake_quant / quantize", function()
    it("rounds ties to even and clamps in float (uint8, scale 1/16, zp 2)", function()
      -- inv = f32(1/0.0625) = 16 exactly; x * 16 is exact for these x.
      local s, zp, lo, hi = 0.0625, 2, 0, 255
      -- 0.03125 * 16 = 0.5 -> nearbyint 0 (tie, even) -> q = 2 -> (2-2)/16 = 0.
      assert.are.equal(2, qparams.quantize(0.03125, s, zp, lo, hi))
      assert.are.equal(0.0, qparams.fake_quant(0.03125, s, zp, lo, hi))
      -- 0.09375 * 16 = 1.5 -> 2 (even) -> q = 4 -> 2/16 = 0.125.
      assert.are.equal(4, qparams.quantize(0.09375, s, zp, lo, hi))
      assert.are.equal(0.125, qparams.fake_quant(0.09375, s, zp, lo, hi))
      -- 0.15625 * 16 = 2.5 -> 2 -> q = 4 -> 0.125 (half-up would give 0.1875).
      assert.are.equal(0.125, qparams.fake_quant(0.15625, s, zp, lo, hi))
      -- 100 * 16 = 1600 -> q = 1602 -> clamp 255 -> 253/16 = 15.8125.
      assert.are.equal(255, qparams.quantize(100, s, zp, lo, hi))
      assert.are.equal(15.8125, qparams.fake_quant(100, s, zp, lo, hi))
      -- -1 * 16 = -16 -> q = -14 -> clamp 0 -> (0-2)/16 = -0.125.
      assert.are.equal(0, qparams.quantize(-1, s, zp, lo, hi))
      assert.are.equal(-0.125, qparams.fake_quant(-1, s, zp, lo, hi))
    end)

    it("saturates infinities and sends NaN to qmin like fmax/fmin", function()
      local s, zp, lo, hi = 0.0625, 2, 0, 255
      assert.are.equal(255, qparams.quantize(math.huge, s, zp, lo, hi))
      assert.are.equal(0, qparams.quantize(-math.huge, s, zp, lo, hi))
      -- fmax(NaN, 0) = 0 -> q = 0 -> (0-2)/16 = -0.125.
      assert.are.equal(0, qparams.quantize(0 / 0, s, zp, lo, hi))
      assert.are.equal(-0.125, qparams.fake_quant(0 / 0, s, zp, lo, hi))
    end)

    it("multiplies by the float32 reciprocal instead of dividing", function()
      -- scale = f32(0.3) = 0x3E99999A = 0.300000011920929. 1/scale =
      -- 3.33333320 -> inv = f32 3.3333332538604736 (ulp on [2,4) is 2.4e-7;
      -- 5.3e-8 away, the next float32 up is 1.9e-7 away). x = 2.25 (exact):
      -- x * inv = 7.49999982118607 -> f32 7.5 (1.8e-7 away, half an ulp on
      -- [4,8) is 2.4e-7) -> nearbyint 8 (tie, even). A float32 division
      -- x / scale = 7.49999970 -> f32 7.4999995 -> 7 would be wrong.
      -- fq = 8 * scale = 2.4000001 exactly (x 2^3) = 0x4019999A.
      local s = f32.round(0.3)
      assert.are.equal(0x3E99999A, bits(s))
      assert.are.equal(7.0, f32.round_half_even(f32.div(2.25, s))) -- the wrong way
      assert.are.equal(8, qparams.quantize(2.25, s, 0, 0, 255))
      assert.are.equal(0x4019999A, bits(qparams.fake_quant(2.25, s, 0, 0, 255)))
      -- scale f32(0.1) = 0.10000000149: inv = f32(9.99999985) = 10.0 (ulp on
      -- [8,16) is 9.5e-7). x = f32(0.35) = 0.349999994: x * inv =
      -- 3.49999994 -> f32 3.5 (6e-8 away) -> 4 (tie, even); q = 4 ->
      -- 4 * f32(0.1) = 0x3ECCCCCD. (The exact quotient 3.4999999 would give 3.)
      s = f32.round(0.1)
      assert.are.equal(4, qparams.quantize(0.35, s, 0, 0, 255))
      assert.are.equal(0x3ECCCCCD, bits(qparams.fake_quant(0.35, s, 0, 0, 255)))
      -- 0.25 * 10 = 2.5 -> 2 (even) -> 2 * f32(0.1) = 0x3E4CCCCD.
      assert.are.equal(0x3E4CCCCD, bits(qparams.fake_quant(0.25, s, 0, 0, 255)))
    end)

    it("int4 symmetric: scale 1/7, qmin -8 reachable", function()
      -- scale = f32(1/7) = 0.142857149; inv = f32(6.9999996871) =
      -- 6.99999952 (= 7 - 2^-21; 7 is farther). x = f32(0.7) = 0.699999988:
      -- x * inv = 4.8999996 -> 5 -> 5 * scale = 0.714285746 -> f32
      -- 0x3F36DB6E (0.714285731).
      local s = f32.from_bits(0x3E124925)
      assert.are.equal(5, qparams.quantize(0.7, s, 0, -8, 7))
      assert.are.equal(0x3F36DB6E, bits(qparams.fake_quant(0.7, s, 0, -8, 7)))
      -- 1.5 * inv = 10.49999905 -> 10 -> clamp 7 -> 7 * scale = 1.0000000447
      -- -> f32 1.0 (half an ulp(1) is 6e-8).
      assert.are.equal(1.0, qparams.fake_quant(1.5, s, 0, -8, 7))
      -- -1.5 -> -10 -> clamp -8 -> -8 * scale = -1.14285719 (exact, x 2^3).
      assert.are.equal(-8, qparams.quantize(-1.5, s, 0, -8, 7))
      assert.are.equal(f32.mul(-8, s), qparams.fake_quant(-1.5, s, 0, -8, 7))
    end)

    it("int16 symmetric: -32768 is reachable and FQ can exceed the observed range", function()
      -- scale = 1 + 2^-15 (see the symmetric int16 case). inv = f32(32768/
      -- 32769) = 1 - 2^-15 + 2^-30 - ... -> 1 - 2^-15 (2^-30 is far below
      -- half an ulp, 2^-25, on [0.5,1)).
      local s = qparams.compute("int16", "per_tensor_symm", -32768, 100)
      -- x = -32768: x * inv = -32768 + 1 = -32767 exactly -> q = -32767;
      -- (-32767) * (1 + 2^-15) = -32767.99997 -> f32 -32768 (ulp on
      -- [2^14, 2^15) is 2^-9 = 2e-3; the distance 3e-5 is far below half).
      assert.are.equal(-32767, qparams.quantize(-32768, s, 0, -32768, 32767))
      assert.are.equal(-32768.0, qparams.fake_quant(-32768, s, 0, -32768, 32767))
      -- x = -40000: x * inv = -39998.78 -> -39999 -> clamp -32768 (qmin is
      -- reachable in symmetric mode); -32768 * (1 + 2^-15) = -32769 exactly.
      assert.are.equal(-32768, qparams.quantize(-40000, s, 0, -32768, 32767))
      assert.are.equal(-32769.0, qparams.fake_quant(-40000, s, 0, -32768, 32767))
    end)

    it("per-channel: quantizes with each channel's own scale and zp", function()
      -- Channel scale 0x3C808081, zp 64 (uint8 range [-1, 3]): x = -1:
      -- inv = f32(1/0.0156862754) = f32(63.7499962) = 63.749996185;
      -- -1 * inv = -63.749996 -> -64 -> q = 0 -> (0 - 64) * scale =
      -- -64 * 0.0156862754 = -1.00392163 (exact, x 2^6) -> fq(-1) != -1:
      -- the zero point moved the grid by a fraction of a step.
      local s, z = qparams.compute("uint8", "per_channel_asymm", { -1 }, { 3 })
      assert.are.equal(0, qparams.quantize(-1, s[1], z[1], 0, 255))
      assert.are.equal(f32.mul(-64, s[1]), qparams.fake_quant(-1, s[1], z[1], 0, 255))
      assert.are.equal(0xBF808081, bits(qparams.fake_quant(-1, s[1], z[1], 0, 255)))
      -- x = 0 maps to zp exactly and dequantizes to 0.
      assert.are.equal(64, qparams.quantize(0, s[1], z[1], 0, 255))
      assert.are.equal(0.0, qparams.fake_quant(0, s[1], z[1], 0, 255))
    end)
  end)
end)
