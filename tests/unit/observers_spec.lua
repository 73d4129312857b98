-- Resolution of each observer's dtype and qscheme: presets, TICO's defaults,
-- overrides.

local observers = require "calib.observers"
local support = require "support"
local fail = require "util.fail"

local function by_path(entries)
  local t = {}
  for _, e in ipairs(entries) do t[e.path] = e end
  return t
end

local function spec(e)
  return { e.dtype, e.qscheme, e.axis }
end

describe("observer specs", function()
  after_each(function() support.cleanup() end)

  it("w8a8 is TICO's PTQConfig(): uint8 everywhere, per-channel Linear and embedding weights", function()
    local t = by_path(observers.resolve(2, "w8a8"))
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["model.embed_tokens.weight"]))
    assert.are.same({ "uint8", "per_tensor_asymm" }, spec(t["model.sin"]))
    assert.are.same({ "uint8", "per_tensor_asymm" }, spec(t["model.layers.0.self_attn.softmax"]))
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["model.layers.1.mlp.down_proj.weight"]))
    -- RMSNorm weights: per-channel label, no channel axis: per tensor
    assert.are.same({ "uint8", "per_tensor_asymm" }, spec(t["model.layers.0.input_layernorm.weight"]))
  end)

  it("w8a16: int16 symmetric activations and norm weights, uint8 per-channel Linear weights", function()
    local entries = observers.resolve(3, "w8a16")
    -- 64 per layer and TICO 0.3.0's 11 model-level ones, in named_observers() order
    assert.are.equal(3 * 64 + 11, #entries)
    local t = by_path(entries)
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.layers.2.attn_mask"]))
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.layers.2.post_attention_layernorm.weight"]))
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["model.layers.2.self_attn.k_proj.weight"]))
    assert.are.equal("model.causal_mask", entries[1].path)
    assert.are.equal("model.layers.0.attn_mask", entries[9].path)
    assert.are.equal("model.layers.2.mlp_residual_out", entries[8 + 2 * 64 + 4].path)
    -- the table per vocabulary row, the looked-up rows on an activation grid
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["model.embed_tokens.weight"]))
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.embed_tokens.act_out"]))
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.causal_mask"]))
    assert.are.equal("input_layernorm.act_in", t["model.embed_tokens.act_out"].calib_from)
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["lm_head.weight"]))
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.norm.weight"]))
    assert.are.equal("lm_head.act_out", entries[#entries].path)
  end)

  it("resolves overrides by specificity", function()
    local dir = support.tmpdir()
    support.write(dir .. "/o.lua", [[return {
      ["mlp"] = { dtype = "uint8" },
      ["mlp.down_proj"] = { dtype = "int8" },
      ["model.layers.1.mlp"] = { dtype = "uint4" },
      ["model.layers.1.mlp.down_proj.weight"] = { dtype = "int4" },
    }]])
    local o = observers.load_overrides(dir .. "/o.lua")
    local t = by_path(observers.resolve(2, "w8a16", o))
    assert.are.same({ "uint8", "per_tensor_asymm" }, spec(t["model.layers.0.mlp.act_in"]))
    assert.are.same({ "uint8", "per_channel_asymm", 0 }, spec(t["model.layers.0.mlp.up_proj.weight"]))
    assert.are.same({ "int8", "per_tensor_symm" }, spec(t["model.layers.0.mlp.down_proj.act_in"]))
    assert.are.same({ "int8", "per_tensor_symm" }, spec(t["model.layers.0.mlp.down_proj.weight"]))
    -- "mlp.down_proj" (2 components) beats the layer-specific "mlp" (1)
    assert.are.same({ "int8", "per_tensor_symm" }, spec(t["model.layers.1.mlp.down_proj.act_out"]))
    assert.are.same({ "uint4", "per_tensor_asymm" }, spec(t["model.layers.1.mlp.act_in"]))
    assert.are.same({ "int4", "per_tensor_symm" }, spec(t["model.layers.1.mlp.down_proj.weight"]))
    assert.are.same({ "int16", "per_tensor_symm" }, spec(t["model.layers.1.self_attn.softmax"]))
  end)

  it("refuses an unknown preset", function()
    local ok, err = pcall(observers.resolve, 1, "w2a2")
    assert.is_false(ok)
    assert.is_true(fail.is(err))
  end)
end)

describe("overrides with many keys", function()
  it("are looked up by name: 100,000 keys resolve in well under a second", function()
    local value = {}
    for i = 1, 100000 do value["model.layers.0.mlp.x" .. i] = { dtype = "int16" } end
    value["model.layers.1.mlp"] = { dtype = "int16" }
    value["mlp.down_proj.weight"] = { dtype = "uint4" }
    local o = observers.check_overrides(value, "o.lua")
    local t0 = os.clock()
    local ok, err = pcall(observers.resolve, 2, "w8a8", o)
    assert.is_true(os.clock() - t0 < 5, "took " .. (os.clock() - t0) .. " s")
    assert.is_false(ok)
    assert.matches("matches no observer", tostring(err))
    -- the two real keys, and the most specific wins
    local t = {}
    for _, e in ipairs(observers.resolve(2, "w8a8", observers.check_overrides({
      ["model.layers.1.mlp"] = { dtype = "int16" }, ["mlp.down_proj.weight"] = { dtype = "uint4" },
    }, "o.lua"))) do t[e.path] = e end
    assert.are.equal("uint4", t["model.layers.1.mlp.down_proj.weight"].dtype)
    assert.are.equal("int16", t["model.layers.1.mlp.mul"].dtype)
    assert.are.equal("uint8", t["model.layers.0.mlp.mul"].dtype)
  end)
end)
