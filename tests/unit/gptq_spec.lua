-- GPTQ's core (gen/native/gptq.c) on small matrices: what it must reduce to,
-- what it must beat, and how it treats column order and dead columns.

local native = require "kiln_native"
local qparams = require "calib.qparams"

-- Uniform values in [-1, 1), the same on every run.
local function uniform(n, seed)
  math.randomseed(seed)
  local t = {}
  for i = 1, n do t[i] = math.random() * 2 - 1 end
  return t
end

-- n samples of cols correlated inputs (each column leans on the one before),
-- as activations are: what gives GPTQ's error feedback something to use.
local function inputs(n, cols, seed)
  local x = uniform(n * cols, seed)
  for r = 0, n - 1 do
    for c = 1, cols - 1 do x[r * cols + c + 1] = 0.4 * x[r * cols + c + 1] + 0.6 * x[r * cols + c] end
  end
  return x
end

local function hessian_of(x, cols)
  local h = native.hessian(cols)
  h:add(native.tensor(x))
  return h
end

local function grid(w, rows, dtype, qscheme)
  local t = native.tensor(w)
  local mn, mx
  if qscheme:match("^per_channel") then mn, mx = t:row_minmax(rows) else mn, mx = t:minmax() end
  local scale, zp = qparams.compute(dtype, qscheme, mn, mx)
  local dt = qparams.DTYPES[dtype]
  return t, scale, zp, dt.qmin, dt.qmax
end

-- ||(W - Q) X^T||^2 over the samples of x.
local function output_error(w, q, x, rows, cols)
  local e = 0.0
  for t = 0, #x // cols - 1 do
    for r = 0, rows - 1 do
      local a = 0.0
      for c = 0, cols - 1 do a = a + (w[r * cols + c + 1] - q:get(r * cols + c + 1)) * x[t * cols + c + 1] end
      e = e + a * a
    end
  end
  return e
end

-- x with its columns in order perm (column j of the result is column perm[j] of x).
local function permute_columns(x, cols, perm)
  local y = {}
  for r = 0, #x // cols - 1 do
    for j = 1, cols do y[r * cols + j] = x[r * cols + perm[j]] end
  end
  return y
end

describe("GPTQ", function()
  local rows, cols = 6, 12

  it("with H = identity is round to nearest, on every kind of grid", function()
    local identity = {}
    for i = 1, cols * cols do identity[i] = 0 end
    for c = 0, cols - 1 do identity[c * cols + c + 1] = 1 end
    local h = hessian_of(identity, cols)
    for _, spec in ipairs({ { "uint4", "per_channel_asymm" }, { "uint8", "per_channel_asymm" }, { "int4", "per_tensor_symm" },
      { "int8", "per_channel_symm" } }) do
      local w, scale, zp, qmin, qmax = grid(uniform(rows * cols, 1), rows, spec[1], spec[2])
      local values, codes = native.gptq(h, w, scale, zp, qmin, qmax, { block = 5 })
      assert.are.equal(w:quantize(scale, zp, qmin, qmax, "s16"), codes, spec[1])
      assert.are.same(w:fake_quant(scale, zp, qmin, qmax):to_table(), values:to_table(), spec[1])
    end
  end)

  it("leaves a smaller output error than round to nearest on correlated inputs", function()
    local wt, x = uniform(rows * cols, 2), inputs(400, cols, 3)
    local w, scale, zp, qmin, qmax = grid(wt, rows, "uint4", "per_channel_asymm")
    local h = hessian_of(x, cols)
    local rtn = output_error(wt, w:fake_quant(scale, zp, qmin, qmax), x, rows, cols)
    for _, act_order in ipairs({ false, true }) do
      local values = native.gptq(h, w, scale, zp, qmin, qmax, { block = 4, act_order = act_order })
      local e = output_error(wt, values, x, rows, cols)
      assert.is_true(e < 0.85 * rtn, string.format("act_order %s: %g vs round to nearest %g", tostring(act_order), e, rtn))
    end
  end)

  it("gives every value on its grid: (q - zp) * s with q in [qmin, qmax]", function()
    local w, scale, zp, qmin, qmax = grid(uniform(rows * cols, 4), rows, "uint4", "per_channel_asymm")
    local values, codes = native.gptq(hessian_of(inputs(200, cols, 5), cols), w, scale, zp, qmin, qmax, {})
    assert.are.equal(values:quantize(scale, zp, qmin, qmax, "s16"), codes)
    assert.is_true(native.grid_offset(values, scale, zp, qmin, qmax) < 1e-5) -- float32 rounding of (q - zp) * s
    assert.is_true(native.grid_offset(w, scale, zp, qmin, qmax) > 0.1) -- the float weight is not
    local list = { string.unpack("<" .. string.rep("i2", rows * cols), codes) }
    list[#list] = nil -- unpack's next position
    for _, q in ipairs(list) do assert.is_true(q >= qmin and q <= qmax) end
  end)

  it("with act order returns the columns in W's order", function()
    -- a diagonal H: no error feedback, so any order is round to nearest, and
    -- only a permutation left undone could differ
    local diag = {}
    for r = 0, cols - 1 do
      for c = 0, cols - 1 do diag[r * cols + c + 1] = r == c and (1 + (c * 7) % cols) or 0 end
    end
    local w, scale, zp, qmin, qmax = grid(uniform(rows * cols, 6), rows, "uint4", "per_channel_asymm")
    local _, codes = native.gptq(hessian_of(diag, cols), w, scale, zp, qmin, qmax, { act_order = true, block = 3 })
    assert.are.equal(w:quantize(scale, zp, qmin, qmax, "s16"), codes)
    -- the same problem with its columns shuffled: act order sorts them the same way, so the result is
    -- the first one's, shuffled likewise
    local perm = {}
    for j = 1, cols do perm[j] = (j * 5) % cols + 1 end
    local wt, x = uniform(rows * cols, 7), inputs(300, cols, 8)
    local w1, s1, z1 = grid(wt, rows, "uint4", "per_channel_asymm")
    local v1 = native.gptq(hessian_of(x, cols), w1, s1, z1, qmin, qmax, { act_order = true, block = 4 })
    local w2 = native.tensor(permute_columns(wt, cols, perm))
    local v2 = native.gptq(hessian_of(permute_columns(x, cols, perm), cols), w2, s1, z1, qmin, qmax, { act_order = true, block = 4 })
    assert.are.same(permute_columns(v1:to_table(), cols, perm), v2:to_table())
  end)

  it("rounds a dead column (its input always 0) to nearest and spreads no error from it", function()
    local wt, x = uniform(rows * cols, 9), inputs(200, cols, 10)
    for r = 0, #x // cols - 1 do x[r * cols + 4] = 0 end -- column 3 is dead
    local w, scale, zp, qmin, qmax = grid(wt, rows, "uint4", "per_channel_asymm")
    local values = native.gptq(hessian_of(x, cols), w, scale, zp, qmin, qmax, {})
    local rtn = w:fake_quant(scale, zp, qmin, qmax)
    for r = 0, rows - 1 do assert.are.equal(rtn:get(r * cols + 4), values:get(r * cols + 4)) end
    -- the dead column's weight does not change the others'
    local wt2 = table.move(wt, 1, #wt, 1, {})
    for r = 0, rows - 1 do wt2[r * cols + 4] = wt2[r * cols + 4] * 0.5 end
    local values2 = native.gptq(hessian_of(x, cols), native.tensor(wt2), scale, zp, qmin, qmax, {})
    for i = 1, rows * cols do
      if (i - 1) % cols ~= 3 then assert.are.equal(values:get(i), values2:get(i)) end
    end
  end)

  it("gives the same codes whatever the block size", function()
    local w, scale, zp, qmin, qmax = grid(uniform(rows * cols, 11), rows, "uint4", "per_channel_asymm")
    local h = hessian_of(inputs(300, cols, 12), cols)
    local _, want = native.gptq(h, w, scale, zp, qmin, qmax, { block = 128 })
    for _, block in ipairs({ 1, 5, 12 }) do
      local _, codes = native.gptq(h, w, scale, zp, qmin, qmax, { block = block })
      assert.are.equal(want, codes, "block " .. block)
    end
  end)

  it("refuses a Hessian that is not positive definite, one of non-finite inputs, one that saw no rows", function()
    local w, scale, zp, qmin, qmax = grid({ 0.5, -0.25 }, 1, "uint4", "per_channel_asymm")
    local values, err = native.gptq(hessian_of({ 1, 2, 0, 0 }, 2), w, scale, zp, qmin, qmax, { damp = 0 }) -- [[1, 2], [2, 4]]: rank 1
    assert.is_nil(values)
    assert.matches("not positive definite", err)
    assert.is_not_nil(native.gptq(hessian_of({ 1, 2, 0, 0 }, 2), w, scale, zp, qmin, qmax, { damp = 0.01 }))
    values, err = native.gptq(hessian_of({ 1, 0 / 0 }, 2), w, scale, zp, qmin, qmax, {})
    assert.is_nil(values)
    assert.matches("not finite", err)
    values, err = native.gptq(native.hessian(2), w, scale, zp, qmin, qmax, {})
    assert.is_nil(values)
    assert.matches("no calibration rows", err)
  end)
end)

describe("GPTQ's MSE grids", function()
  local gptq = require "calib.algorithms.gptq"

  it("never quantize a row worse than its min/max grid, and shrink where an outlier stretches it", function()
    local rows, cols = 4, 48
    local w = uniform(rows * cols, 7)
    w[5] = 6 -- one outlier in row 0 stretches its grid
    local t = native.tensor(w)
    local entry = { path = "w", dtype = "uint4", qscheme = "per_channel_asymm", axis = 0 }
    local s0, z0 = gptq.grid(native, entry, t, rows, false)
    local s1, z1 = gptq.grid(native, entry, t, rows, true)
    local e0 = native.row_error(t, s0, z0, 0, 15, gptq.MSE.norm)
    local e1 = native.row_error(t, s1, z1, 0, 15, gptq.MSE.norm)
    for r = 1, rows do assert.is_true(e1[r] <= e0[r], "row " .. r) end
    assert.is_true(s1[1] < s0[1], "the outlier's row shrinks")
    -- each grid is one TICO computes from a range: a zero point in range, a positive scale
    for r = 1, rows do assert.is_true(s1[r] > 0 and z1[r] >= 0 and z1[r] <= 15) end
  end)
end)
