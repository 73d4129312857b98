-- The calibration algorithms' pure parts: which observers share a grid,
-- how mixed precision groups observers, SmoothQuant's folding.

local shared_grids = require "calib.algorithms.shared_grids"
local mixed = require "calib.algorithms.mixed"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local smoothing = require "model.smoothing"

local function by_path(entries)
  local t = {}
  for _, e in ipairs(entries) do t[e.path] = e end
  return t
end

-- Entries of a two-layer model with made-up ranges, computed.
local function computed(preset, fill)
  local entries = observers.resolve(2, preset)
  for _, e in ipairs(entries) do
    if e.param and e.axis then
      local rows = ({ ["lm_head.weight"] = 3, ["model.embed_tokens.weight"] = 3 })[e.path] or 2
      e.min, e.max = {}, {}
      for r = 1, rows do e.min[r], e.max[r] = -1, 1 end
    else
      e.min, e.max = fill(e)
    end
  end
  calibrate.tie_kv(entries)
  calibrate.compute(entries)
  return entries
end

describe("shared grids", function()
  it("pairs each data-moving observer with its input's, in graph order", function()
    local pairs_ = {}
    for _, p in ipairs(shared_grids.pairs()) do pairs_[p.observer] = p.from end
    assert.are.same({
      ["self_attn.k_x1"] = "self_attn.k_proj.act_out", ["self_attn.k_x2"] = "self_attn.k_proj.act_out",
      ["self_attn.k_cat"] = "self_attn.k_x2", ["self_attn.q_x1"] = "self_attn.q_proj.act_out",
      ["self_attn.q_x2"] = "self_attn.q_proj.act_out", ["self_attn.q_cat"] = "self_attn.q_x2",
      ["self_attn.mask_add"] = "self_attn.logits",
    }, pairs_)
  end)

  it("copies the grid down the chain; the mask only when its floor is far below zero", function()
    for _, logits_min in ipairs({ -100, -10 }) do
      local entries = computed("w8a8", function(e)
        if e.name == "self_attn.logits" then return logits_min, 20 end
        if e.name:match("k_x1$") then return -1, 3 end
        return -2, 4
      end)
      shared_grids.apply(entries)
      local t = by_path(entries)
      local p = "model.layers.1.self_attn."
      for _, name in ipairs({ "k_x1", "k_x2", "k_cat" }) do
        assert.are.same({ t[p .. "k_proj.act_out"].scale, t[p .. "k_proj.act_out"].zero_point },
          { t[p .. name].scale, t[p .. name].zero_point }, name)
      end
      assert.are.equal(p .. "k_x2", t[p .. "k_cat"].grid_from)
      if logits_min <= shared_grids.MASK_FLOOR then
        assert.are.equal(t[p .. "logits"].scale, t[p .. "mask_add"].scale)
      else
        assert.is_nil(t[p .. "mask_add"].grid_from)
      end
    end
  end)

  it("never joins two formats", function()
    local entries = observers.resolve(1, "w8a8", observers.check_overrides({ ["self_attn.k_cat"] = { dtype = "int16" } }, "o"))
    for _, e in ipairs(entries) do
      if e.axis then e.min, e.max = { -1, -1, -1 }, { 1, 1, 1 } else e.min, e.max = -1, 1 end
    end
    -- per-channel weights need one range per row; only the grids of the pair matter here
    local t = by_path(entries)
    for path, e in pairs(t) do if e.axis then t[path] = nil end end
    local list = {}
    for _, e in ipairs(entries) do if not e.axis then list[#list + 1] = e end end
    calibrate.compute(list)
    shared_grids.apply(list)
    assert.is_nil(t["model.layers.0.self_attn.k_cat"].grid_from)
    assert.are.equal("model.layers.0.self_attn.k_proj.act_out", t["model.layers.0.self_attn.k_x1"].grid_from)
  end)
end)

describe("mixed precision units", function()
  it("a family across layers, tied KV observers and observers of the same data as one, shared grids joined, weights left out", function()
    local entries = computed("w8a8", function() return -1, 1 end)
    local units = {}
    for _, u in ipairs(mixed.units(entries)) do units[u.name] = #u.paths end
    assert.are.equal(4, units["mlp.mul"]) -- with down_proj.act_in: the same data
    assert.are.equal(5, units["model.sin"]) -- the model's table, each layer's and its attention's copy
    assert.are.equal(6, units["self_attn.new_k"]) -- new_k, present_key, past_key in two layers
    assert.is_nil(units["self_attn.present_key"])
    assert.is_nil(units["mlp.down_proj.weight"])
    assert.are.equal(2, units["input_layernorm.weight"])
    local together = {}
    for _, p in ipairs(shared_grids.pairs()) do together[#together + 1] = { p.observer, p.from } end
    local k_chain
    for _, u in ipairs(mixed.units(entries, together)) do
      for _, path in ipairs(u.paths) do
        if path == "model.layers.1.self_attn.k_cat" then k_chain = u end
      end
    end
    -- k_proj.act_out, k_x1, k_x2, k_cat in two layers: one unit
    table.sort(k_chain.paths)
    assert.are.same({ "model.layers.0.self_attn.k_cat", "model.layers.0.self_attn.k_proj.act_out",
      "model.layers.0.self_attn.k_x1", "model.layers.0.self_attn.k_x2", "model.layers.1.self_attn.k_cat",
      "model.layers.1.self_attn.k_proj.act_out", "model.layers.1.self_attn.k_x1", "model.layers.1.self_attn.k_x2" },
      k_chain.paths)
  end)

  it("a variant puts the chosen units on int16 and keeps the calibrated entries as they were", function()
    local entries = computed("w8a8", function() return -3, 5 end)
    local v = mixed.variant(entries, { ["mlp.mul"] = true }, calibrate.compute)
    local t, orig = by_path(v), by_path(entries)
    assert.are.same({ "int16", "per_tensor_symm" }, { t["model.layers.1.mlp.mul"].dtype, t["model.layers.1.mlp.mul"].qscheme })
    assert.is_true(math.abs(t["model.layers.1.mlp.mul"].scale - 5 / 32767) < 1e-9)
    assert.are.equal("uint8", orig["model.layers.1.mlp.mul"].dtype)
    assert.are.equal("uint8", t["model.layers.1.mlp.up_proj.act_out"].dtype)
  end)
end)

describe("SmoothQuant folding", function()
  it("divides the norm weight and multiplies the columns of its Linears only", function()
    local calls = {}
    local fake = { column_scaled = function(_, f, divide) calls[#calls + 1] = { f, divide }; return "scaled" end }
    local factors = { input_layernorm = { 2 }, post_attention_layernorm = { 4 } }
    assert.are.equal("scaled", smoothing.fold("input_layernorm.weight", fake, factors))
    assert.are.equal("scaled", smoothing.fold("self_attn.k_proj.weight", fake, factors))
    assert.are.equal("scaled", smoothing.fold("mlp.up_proj.weight", fake, factors))
    assert.are.equal(fake, smoothing.fold("mlp.down_proj.weight", fake, factors))
    assert.are.equal(fake, smoothing.fold("self_attn.o_proj.weight", fake, factors))
    assert.are.same({ { { 2 }, true }, { { 2 }, false }, { { 4 }, false } }, calls)
  end)
end)
