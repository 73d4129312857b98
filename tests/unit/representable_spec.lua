-- What the generator can represent: plan/fixed.lua's multipliers refuse
-- (util.fail, never an internal error) what the runtime cannot hold, at the
-- limits it exports; calib/qparams_fields.lua's checks show values as the
-- file has them.

local fail = require "util.fail"
local fixed = require "plan.fixed"
local fields = require "calib.qparams_fields"
local detmath = require "util.detmath"
local qparams = require "calib.qparams"

local function refusal(fn, ...)
  local ok, e = fail.catch(fn, ...)
  assert.is_false(ok, "accepted")
  return tostring(e)
end

describe("plan.fixed limits", function()
  it("kiln_rq takes [2^-65, 2^31) and refuses the rest as a failure", function()
    assert.are.equal(95, fixed.rq(fixed.RQ_MIN).shift)
    assert.are.equal(0, fixed.rq(2.0 ^ 31 - 1).shift)
    for _, real in ipairs({ fixed.RQ_MIN / 2, 2.0 ^ 31, 1e30, 1e-30, math.huge, 0, -1, 0 / 0 }) do
      local msg = refusal(fixed.rq, real, "s_a * (1/s_b)")
      assert.matches("multiplier s_a * (1/s_b)", msg, 1, true)
    end
    assert.is_true(fixed.rq_fits(1.0))
    assert.is_false(fixed.rq_fits(2.0 ^ 31))
    assert.is_false(fixed.rq_fits(fixed.RQ_MIN / 2))
  end)

  it("kiln_add_rq takes a largest ratio in [2^-33, 2^30)", function()
    assert.are.equal(62, fixed.add_rq({ fixed.ADD_MIN }).shift)
    for _, reals in ipairs({ { fixed.ADD_MIN / 2 }, { 2.0 ^ 30 }, { 1, math.huge }, { 0, 0 } }) do
      assert.matches("add:", refusal(fixed.add_rq, reals), 1, true)
    end
  end)

  it("kiln_norm_rq refuses an eps term past 2^61 (an input scale of 3e-17)", function()
    local p = fixed.norm_rq(1e-8, 1e-3, 1e3, 64, 1e-5, 32767)
    assert.is_true(math.type(p.eps_term) == "integer")
    assert.matches("eps term", refusal(fixed.norm_rq, 3e-17, 1e-3, 1e3, 64, 1e-5, 32767), 1, true)
  end)

  it("exp far outside double's range returns at once", function()
    local t = os.clock()
    assert.are.equal(0.0, detmath.exp(-6.5e14))
    assert.are.equal(math.huge, detmath.exp(1e20))
    assert.is_true(os.clock() - t < 0.1)
    assert.are.equal(detmath.exp(-1000), 0.0) -- unchanged below the cut: already 0
  end)
end)

describe("qparams fields", function()
  local int16 = qparams.DTYPES.int16

  it("shows a value as the file has it", function()
    assert.are.equal('"0" (a string)', fields.show("0"))
    assert.are.equal("missing", fields.show(nil))
    assert.are.equal("null", fields.show(require("util.json").decoded_null))
    assert.are.equal("64", fields.show(64))
  end)

  it("a scale is a finite positive normal float32", function()
    assert.are.equal(0.5, fields.scale("q.json", "x", 0.5))
    for _, v in ipairs({ "0.1", true, 0, -1, 1e-40, 1e39, math.huge, 0 / 0 }) do
      assert.matches("^q%.json: x: scale ", refusal(fields.scale, "q.json", "x", v))
    end
  end)

  it("a zero point is an integer in the dtype's range, 1e20 included", function()
    assert.are.equal(3, fields.zero_point("q.json", "x", 3.0, int16, false))
    for _, v in ipairs({ 1e20, -1e20, 0.5, 40000, "0" }) do
      assert.matches("^q%.json: x: zero_point ", refusal(fields.zero_point, "q.json", "x", v, int16, false))
    end
  end)

  it("min/max are there, ordered and give about the scale", function()
    local e = { dtype = "int16", qscheme = "per_tensor_symm", scale = 1 / 32767 }
    fields.range("q.json", "x", { min = -1, max = 1 }, e, nil)
    assert.matches("min 2 > max 1", refusal(fields.range, "q.json", "x", { min = 2, max = 1 }, e, nil), 1, true)
    assert.matches("max is missing", refusal(fields.range, "q.json", "x", { min = 0 }, e, nil), 1, true)
    e.scale = 1e10
    assert.matches("times", refusal(fields.range, "q.json", "x", { min = -1, max = 1 }, e, nil), 1, true)
  end)
end)
