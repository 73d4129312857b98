-- Each lowering on its own (gen/plan/lower/): a node in, the step (template,
-- kernel, variables) and the constants out; the declared fusions; the
-- kernel choice by a rules file's conditions.

local native = require "kiln_native"
local state = require "plan.adapter_state"
local adapter = require "plan.adapter"
local fusions = require "plan.fusions"
local constants = require "plan.constants"
local targets = require "emit.targets"

local DESC = { hidden = 8, heads = 2, kv_heads = 1, head_dim = 4, intermediate = 16, vocab = 32, max_seq = 16,
  rms_eps = 1e-5 }
local PORTABLE = targets.load(".", "portable")

local function obs(dtype, scale, zp) return { dtype = dtype, scale = scale, zero_point = zp, qscheme = "per_tensor_affine" } end

-- A planning state over a made-up graph: observers given per path (under
-- the prefix "L."), weights as float tensors.
local function new_state(o)
  local observers = {}
  for path, v in pairs(o.observers or {}) do observers["L." .. path] = v end
  local graph = { name = o.graph_name or "test", params = o.params or {}, outputs = o.outputs or {}, nodes = o.nodes or {} }
  local st = state.new { graph = graph, kind = o.kind or "prefill", prefix = "L.", cname = "T",
    qp = { path = "q.json", observers = observers }, desc = DESC, block = 4, consts = constants.new(native),
    weights = o.weights or {}, rules = o.rules or PORTABLE, native = native }
  return st
end

local function act(st, name, grid, shape)
  st.T[name] = { kind = "act", ptr = name, grid = grid, shape = shape or "S D" }
end

local function grid(dtype, scale, zp)
  local ranges = { uint8 = { 0, 255 }, int16 = { -32768, 32767 } }
  return { path = "in", dtype = dtype, scale = scale, zero_point = zp, qmin = ranges[dtype][1], qmax = ranges[dtype][2] }
end

local function const_named(st, name)
  for _, c in ipairs(st.consts.list) do
    if c.name == name then return c end
  end
end

describe("lowerings", function()
  it("quant: the same grid is an alias, another grid a requantization", function()
    local st = new_state { observers = { a = obs("uint8", 0.5, 3), b = obs("uint8", 0.25, 3) } }
    act(st, "x", grid("uint8", 0.5, 3))
    adapter.LOWERINGS.quant(st, { op = "quant", ins = { "x" }, out = "xa", obs = "a", shape = "S D" })
    adapter.LOWERINGS.quant(st, { op = "quant", ins = { "xa" }, out = "xb", obs = "b", shape = "S D" })
    assert.are.equal("alias", st.steps[1].template)
    assert.are.equal("x", st.T.xa.ptr)
    local s = st.steps[2]
    assert.are.equal("requant", s.template)
    assert.are.equal("kiln_requant", s.vars.kernel)
    assert.are.same({ per_row = 8 }, s.vars.n)
    assert.are.equal("T_B_RQ", s.vars.rq)
    assert.is_not_nil(const_named(st, "T_B"))
  end)

  it("quant: a mask grid that cannot carry the fill value is refused, naming the observer", function()
    local st = new_state { observers = { m = obs("uint8", 0.01, 255) } }
    st.T.mask = { kind = "mask" }
    local ok, err = pcall(adapter.LOWERINGS.quant, st, { op = "quant", ins = { "mask" }, out = "m", obs = "m" })
    assert.is_false(ok)
    assert.matches("L%.m", tostring(err))
  end)

  it("rmsnorm: kiln_rmsnorm with gamma's zero point and the norm constants", function()
    local st = new_state { observers = { o = obs("uint8", 0.05, 128), w = obs("int16", 0.001, 0) },
      params = { { name = "g", shape = "D", role = "norm" } }, weights = { g = native.tensor { 1, 1, 1, 1, 1, 1, 1, 1 } } }
    act(st, "x", grid("uint8", 0.1, 128))
    adapter.LOWERINGS.quant(st, { op = "quant", ins = { "g" }, out = "gq", obs = "w" })
    adapter.LOWERINGS.rmsnorm(st, { op = "rmsnorm", ins = { "x", "gq" }, out = "h", obs = "o", shape = "S D" })
    local s = st.steps[1]
    assert.are.equal("rmsnorm", s.template)
    assert.are.equal("kiln_rmsnorm", s.vars.kernel)
    assert.are.equal(8, s.vars.n)
    assert.are.equal("T_W", s.vars.gamma)
    assert.are.equal("T_O_NORM", s.vars.p)
  end)

  local function linear_state(rules)
    local w = {}
    for i = 1, 8 * 8 do w[i] = ((i * 7) % 13 - 6) / 10 end
    local st = new_state { rules = rules, observers = { o = obs("uint8", 0.05, 120), w = obs("uint8", 0.01, 128) },
      params = { { name = "W", shape = "D D", role = "linear" } }, weights = { W = native.tensor(w) } }
    act(st, "x", grid("uint8", 0.1, 100))
    adapter.LOWERINGS.quant(st, { op = "quant", ins = { "W" }, out = "Wq", obs = "w" })
    adapter.LOWERINGS.linear(st, { op = "linear", ins = { "x", "Wq" }, out = "y", obs = "o", shape = "S D" })
    return st
  end

  it("linear: the portable kernel on plain rows", function()
    local st = linear_state(PORTABLE)
    local s = st.steps[1]
    assert.are.equal("linear", s.template)
    assert.are.equal("kiln_linear_u8", s.vars.kernel)
    assert.are.equal(8, s.vars.n_in)
    assert.are.equal("rows", st.weight_constants.W.layout)
  end)

  it("linear: a rules entry's weight layout, bias hook and work buffer", function()
    local rules = targets.load(".", "x86-vnni")
    local st = linear_state(rules)
    local s = st.steps[1]
    assert.are.equal("linear_packed", s.template)
    assert.are.equal("kiln_linear_vnni_a8", s.vars.kernel)
    assert.are.equal("n16k4", st.weight_constants.W.layout)
    -- 16 padded rows of 8 inputs, w - 128
    assert.are.equal(16 * 8, const_named(st, "T_W_N16K4").bytes)
    -- each row's bias from the hook: n zx zw - zx sum_w
    local bias = const_named(st, "T_O_BIAS")
    assert.is_not_nil(bias)
    local sums = native.row_sums(st.T.Wq.codes, "u8", 8)
    local first = bias.values[1]
    assert.are.equal(8 * 100 * 128 - 100 * sums[1], first)
    assert.are.equal("y_work", s.vars.work)
  end)

  it("linear: a weight layout's byte order and flips, and a row_terms hook's table (cortex-m4's a8 kernels)", function()
    local st = linear_state(targets.load(".", "cortex-m4"))
    local s = st.steps[1]
    assert.are.equal("kiln_linear_dsp_u8_r4a8", s.vars.kernel)
    assert.are.equal("r4a8", st.weight_constants.W.layout)
    -- each word two rows x two inputs, [r0 i0, r1 i0, r0 i1, r1 i1], rows 1 and 3 with their top bit flipped
    local codes, packed = st.T.Wq.codes, const_named(st, "T_W_R4A8").packed
    local function code(r, i) return codes:byte(r * 8 + i + 1) end
    assert.are.same({ code(0, 0), code(1, 0) ~ 0x80, code(0, 1), code(1, 1) ~ 0x80, code(2, 0), code(3, 0) ~ 0x80 },
      { packed:byte(1, 6) })
    assert.are.equal(code(0, 2), packed:byte(9))
    assert.are.equal(code(3, 7) ~ 0x80, packed:byte(32))
    -- 4 terms a row: the bias mod 2^32, zw off the stored code, the multiplier, (2 zy + 1) * 256 + shift - 33
    local t = const_named(st, "T_O_TERMS")
    assert.are.equal("s32", t.ctype)
    assert.are.equal(8 * 4, #t.values)
    local sums = native.row_sums(codes, "u8", 8)
    assert.are.equal(8 * 100 * 128 - 100 * sums[1], t.values[1])
    assert.are.same({ 128, 0 }, { t.values[2], t.values[6] })
    local rq = st.consts.by_name["T_O_RQ"].rqs[1]
    assert.are.same({ rq.mult, (2 * 120 + 1) * 256 + rq.shift - 33 }, { t.values[3], t.values[4] })
    assert.are.equal("T_O_TERMS", s.vars.w_bias)
  end)

  it("linear: an entry whose conditions fail falls back to the portable kernel", function()
    local rules = { name = "t", kernels = { linear = { { kernel = "k_fast", weight = { "u8" }, n_in = { multiple_of = 16 } } } } }
    local st = linear_state(rules)
    assert.are.equal("kiln_linear_u8", st.steps[1].vars.kernel)
  end)

  -- A linear node on 4-bit weights [8][cols] (dtype uint4 or int4), input on an act grid.
  local function linear4_state(rules, dtype, cols, act_dtype)
    local w = {}
    for i = 1, 8 * cols do w[i] = ((i * 7) % 17 - 8) / 10 end
    local wobs = dtype == "uint4" and obs("uint4", 0.1, 8) or obs("int4", 0.1, 0)
    local st = new_state { rules = rules, observers = { o = obs("int16", 0.05, 0), w = wobs },
      params = { { name = "W", shape = "D D", role = "linear" } }, weights = { W = native.tensor(w) } }
    act(st, "x", act_dtype == "int16" and grid("int16", 0.001, 0) or grid("uint8", 0.1, 100))
    adapter.LOWERINGS.quant(st, { op = "quant", ins = { "W" }, out = "Wq", obs = "w" })
    adapter.LOWERINGS.linear(st, { op = "linear", ins = { "x", "Wq" }, out = "y", obs = "o", shape = "S D" })
    local codes = { string.unpack(string.rep(dtype == "uint4" and "B" or "b", 8 * cols), st.T.Wq.codes) }
    codes[#codes] = nil
    return st, codes
  end

  for _, dtype in ipairs({ "uint4", "int4" }) do
    it("linear: " .. dtype .. " weights two codes a byte, even column low, odd rows padded to a byte", function()
      local st, codes = linear4_state(PORTABLE, dtype, 7, "uint8")
      local s = st.steps[1]
      assert.are.equal(dtype == "uint4" and "kiln_linear_u4" or "kiln_linear_s4", s.vars.kernel)
      assert.are.equal("rows", st.weight_constants.W.layout)
      local c = const_named(st, "T_W")
      assert.are.equal(8 * 4, c.bytes) -- 8 rows of 7 codes: 4 bytes each, the last high nibble empty
      assert.matches("two codes a byte", c.note)
      local seen = {}
      for o = 0, 7 do
        for j = 0, 3 do
          local lo, hi = codes[o * 7 + 2 * j + 1], 2 * j + 1 < 7 and codes[o * 7 + 2 * j + 2] or 0
          assert.are.equal((lo & 15) | (hi & 15) << 4, c.packed:byte(o * 4 + j + 1), string.format("row %d byte %d", o, j))
          seen[lo] = true
        end
      end
      assert.is_true(seen[dtype == "uint4" and 15 or -8] and seen[0], "the codes span their range")
      -- the weight table is half the one an 8-bit weight of the same shape takes, a row rounded up to a byte
      assert.are.equal(8 * ((7 + 1) // 2), st.consts.bytes.weights)
    end)

    it("linear: " .. dtype .. " weights on x86-vnni in n16k4 nibbles, rows 0-7 low and 8-15 high", function()
      local rules = targets.load(".", "x86-vnni")
      local st, codes = linear4_state(rules, dtype, 8, "int16")
      local s = st.steps[1]
      local storage = dtype == "uint4" and "u4" or "s4"
      assert.are.equal("kiln_linear_vnni_" .. storage .. "_a16", s.vars.kernel)
      assert.are.equal("n16k4_nibbles", st.weight_constants.W.layout)
      local c = const_named(st, "T_W_N16K4_NIBBLES")
      assert.are.equal(16 * 8 // 2, c.bytes) -- 16 padded rows of 8 inputs, two codes a byte
      local flip = dtype == "int4" and 8 or 0
      for k = 0, 1 do
        for j = 0, 31 do
          local row, i = j // 4, 4 * k + j % 4
          local lo = (codes[row * 8 + i + 1] & 15) ~ flip
          local hi = 0 ~ flip -- rows 8-15 of the block: padding, code 0
          assert.are.equal(lo | hi << 4, c.packed:byte(k * 32 + j + 1), string.format("step %d byte %d", k, j))
        end
      end
      -- two planes: the x-independent terms with the nibbles' offset (0 for uint4, -8 for int4)
      local sums = native.row_sums(st.T.Wq.codes, st.T.Wq.ctype, 8)
      local offset = dtype == "uint4" and 0 or -8
      assert.are.equal(-32768 * (sums[1] - offset * 8), const_named(st, "T_O_BIAS").values[1])
    end)
  end

  it("linear: x86 rows whose length is no multiple of 4 run the portable 4-bit kernel on rows", function()
    local st = linear4_state(targets.load(".", "x86-avx2"), "uint4", 7, "uint8")
    assert.are.equal("kiln_linear_u4", st.steps[1].vars.kernel)
    assert.are.equal("rows", st.weight_constants.W.layout)
  end)

  it("linear: a 4-bit kernel whose layout has no 4-bit form is refused, naming the rules file", function()
    local rules = { name = "t", path = "t.lua", kernels = { linear = { { kernel = "k4", weight = { "u4" },
      weight_layout = { name = "blocks", ctype = "u8", block_rows = 4, group = 4, doc = "4 x 4" } } } } }
    local ok, err = pcall(linear4_state, rules, "uint4", 8, "uint8")
    assert.is_false(ok)
    assert.matches("t%.lua: kernels%.linear: k4 takes u4 weights, but its weight_layout blocks has no 4%-bit form",
      tostring(err))
  end)

  it("rope: take_half, concat_halves and mul_rows count heads per row", function()
    local st = new_state { observers = { h = obs("uint8", 0.1, 128), c = obs("uint8", 0.1, 128), m = obs("uint8", 0.1, 128) } }
    act(st, "t", grid("uint8", 0.1, 128), "S H d")
    act(st, "cos", grid("uint8", 0.01, 128), "S d")
    adapter.LOWERINGS.take_half(st, { op = "take_half", ins = { "t" }, out = "x1", obs = "h", shape = "S H d2", half = 1 })
    adapter.LOWERINGS.concat_halves(st, { op = "concat_halves", ins = { "x1", "x1" }, out = "cat", obs = "c", shape = "S H d" })
    adapter.LOWERINGS.mul_rows(st, { op = "mul_rows", ins = { "cat", "cos" }, out = "r", obs = "m", shape = "S H d" })
    assert.are.same({ "take_half", "concat_halves", "mul_rows" },
      { st.steps[1].template, st.steps[2].template, st.steps[3].template })
    assert.are.same({ per_row = 2 }, st.steps[1].vars.rows)
    assert.are.equal(0, st.steps[1].vars.which)
    assert.are.equal("T_C_RQ_A", st.steps[2].vars.a_rq)
    assert.are.equal(2, st.steps[3].vars.heads)
  end)

  it("add: an add without observer stays an unrounded sum its consumer adds in one step", function()
    local st = new_state { observers = { r = obs("uint8", 0.1, 128) } }
    act(st, "a", grid("uint8", 0.1, 128))
    act(st, "b", grid("uint8", 0.2, 128))
    act(st, "c", grid("uint8", 0.3, 128))
    adapter.LOWERINGS.add(st, { op = "add", ins = { "a", "b" }, out = "s" })
    assert.are.equal(0, #st.steps)
    adapter.LOWERINGS.add(st, { op = "add", ins = { "s", "c" }, out = "y", obs = "r", shape = "S D" })
    local v = st.steps[1].vars
    assert.are.same({ "a", "b", "c" }, { v.a, v.b, v.c })
    assert.are.equal("T_R_ADD", v.rq)
  end)

  it("add: two terms pass a null third", function()
    local st = new_state { observers = { r = obs("uint8", 0.1, 128) } }
    act(st, "a", grid("uint8", 0.1, 128))
    act(st, "b", grid("uint8", 0.2, 128))
    adapter.LOWERINGS.add(st, { op = "add", ins = { "a", "b" }, out = "y", obs = "r", shape = "S D" })
    assert.is_false(st.steps[1].vars.c)
  end)

  it("sigmoid: a table for 8-bit inputs, exp in Q31 for 16-bit ones", function()
    local st = new_state { observers = { s = obs("uint8", 1 / 255, 0), t = obs("int16", 1 / 32767, 0) } }
    act(st, "x8", grid("uint8", 0.05, 128))
    act(st, "x16", grid("int16", 0.001, 0))
    adapter.LOWERINGS.sigmoid(st, { op = "sigmoid", ins = { "x8" }, out = "y8", obs = "s", shape = "S D" })
    adapter.LOWERINGS.sigmoid(st, { op = "sigmoid", ins = { "x16" }, out = "y16", obs = "t", shape = "S D" })
    assert.are.equal("lookup", st.steps[1].template)
    assert.are.equal(256, #const_named(st, "T_S_TABLE").values)
    assert.are.equal("sigmoid", st.steps[2].template)
    assert.are.equal("T_T_EXP", st.steps[2].vars.lut)
  end)

  it("an op with no lowering is refused, naming the observer", function()
    local g = { name = "t", params = {}, outputs = {}, nodes = { { op = "gelu", ins = { "x" }, out = "y", obs = "g" } } }
    local ok, err = pcall(adapter.build, { graph = g, kind = "prefill", prefix = "L.", cname = "T",
      qp = { observers = {} }, desc = DESC, block = 4, x_grid = grid("uint8", 0.1, 0), consts = constants.new(native),
      weights = {}, rules = PORTABLE, native = native })
    assert.is_false(ok)
    assert.matches("L%.g.*gelu", tostring(err))
  end)
end)

describe("fusions", function()
  local function node(op, out, ins, o) return { op = op, out = out, ins = ins, obs = o } end

  it("match attention as one chain, lowered at its first node", function()
    local nodes = { node("qk", "l", { "q", "k" }, "lg"), node("add_mask", "m", { "l", "mask" }, "ma"),
      node("softmax", "p", { "m" }, "sm"), node("pv", "o", { "p", "v" }, "ao") }
    local found = fusions.match(new_state {}, nodes)
    assert.are.equal("attention", found[1].lowering)
    assert.is_false(found[2].lowering)
    assert.is_false(found[4].lowering)
    assert.are.equal(found[1].fused, found[4].fused)
  end)

  it("put the new keys straight into new_k only when its grid is the present grid", function()
    local nodes = { node("cache_cat", "pk", { "past", "knew" }, "present_key"), node("heads_first", "new_k", { "knew" }, "new_k") }
    local same = new_state { outputs = { { name = "new_k" } },
      observers = { present_key = obs("uint8", 0.1, 128), new_k = obs("uint8", 0.1, 128) } }
    local found = fusions.match(same, nodes)
    assert.are.equal("present_into_output", found[1].lowering)
    assert.are.equal("present_output_alias", found[2].lowering)
    local other = new_state { outputs = { { name = "new_k" } },
      observers = { present_key = obs("uint8", 0.1, 128), new_k = obs("uint8", 0.2, 128) } }
    assert.are.same({}, fusions.match(other, nodes))
  end)
end)
