-- The layer graph: TICO's observers, in TICO's order, and a program the float
-- executor can run.

local layer = require "graph.llama_layer"
local program = require "graph.program"

-- tico-semantics.md §1.3 for the npu_export profile (logits_raw and scale
-- exist only without k_proj scale fusion), in the order of §1.2.
local TICO_ORDER = {
  "input_layernorm.act_in", "input_layernorm.weight", "input_layernorm.act_out",
  "attn_mask", "cos", "sin",
  "self_attn.past_key", "self_attn.past_value",
  "self_attn.hidden",
  "self_attn.q_proj.act_in", "self_attn.q_proj.weight", "self_attn.q_proj.act_out",
  "self_attn.k_proj.act_in", "self_attn.k_proj.weight", "self_attn.k_proj.act_out",
  "self_attn.v_proj.act_in", "self_attn.v_proj.weight", "self_attn.v_proj.act_out",
  "self_attn.cos", "self_attn.sin", "self_attn.attn_mask",
  "self_attn.k_x1", "self_attn.k_x2", "self_attn.k_cat", "self_attn.k_cos", "self_attn.k_sin", "self_attn.k_rot",
  "self_attn.present_key", "self_attn.present_value",
  "self_attn.q_x1", "self_attn.q_x2", "self_attn.q_cat", "self_attn.q_cos", "self_attn.q_sin", "self_attn.q_rot",
  "self_attn.logits", "self_attn.mask_add", "self_attn.softmax", "self_attn.attn_out",
  "self_attn.attn_weights", "self_attn.attn_out_h",
  "self_attn.o_proj.act_in", "self_attn.o_proj.weight", "self_attn.o_proj.act_out",
  "self_attn.new_k", "self_attn.new_v",
  "post_attention_layernorm.act_in", "post_attention_layernorm.weight", "post_attention_layernorm.act_out",
  "mlp.act_in",
  "mlp.gate_proj.act_in", "mlp.gate_proj.weight", "mlp.gate_proj.act_out",
  "mlp.up_proj.act_in", "mlp.up_proj.weight", "mlp.up_proj.act_out",
  "mlp.act_fn.act_in", "mlp.act_fn.sigmoid", "mlp.act_fn.mul",
  "mlp.mul",
  "mlp.down_proj.act_in", "mlp.down_proj.weight", "mlp.down_proj.act_out",
  "mlp_residual_out",
}

describe("layer graph", function()
  it("places TICO's 64 npu_export observers in TICO's order", function()
    local names = {}
    for i, o in ipairs(layer.observers()) do names[i] = o.name end
    assert.are.same(TICO_ORDER, names)
  end)

  it("marks exactly the Linear and RMSNorm weights as weight observers", function()
    local weights = {}
    for _, o in ipairs(layer.observers()) do
      if o.param then weights[#weights + 1] = o.name .. ":" .. o.param.role end
    end
    assert.are.same({
      "input_layernorm.weight:norm",
      "self_attn.q_proj.weight:linear", "self_attn.k_proj.weight:linear", "self_attn.v_proj.weight:linear",
      "self_attn.o_proj.weight:linear",
      "post_attention_layernorm.weight:norm",
      "mlp.gate_proj.weight:linear", "mlp.up_proj.weight:linear", "mlp.down_proj.weight:linear",
    }, weights)
  end)

  it("reads every tensor after it is written and writes each once", function()
    local known = {}
    for _, i in ipairs(layer.inputs) do known[i.name] = true end
    for _, p in ipairs(layer.params) do known[p.name] = true end
    for _, nd in ipairs(layer.nodes) do
      for _, name in ipairs(nd.ins) do
        assert.is_true(known[name] ~= nil, nd.out .. " reads " .. name .. " before it exists")
      end
      assert.is_nil(known[nd.out], nd.out .. " written twice")
      known[nd.out] = true
      assert.is_string(nd.shape, nd.out .. " has no shape")
    end
    for _, o in ipairs(layer.outputs) do assert.is_true(known[o.name], o.name) end
  end)

  it("has no observer on the attention residual only", function()
    local bare = {}
    for _, nd in ipairs(layer.nodes) do
      if not nd.obs then bare[#bare + 1] = nd.out end
    end
    assert.are.same({ "h1" }, bare)
  end)

  it("fuses the attention scale into k_proj", function()
    for _, p in ipairs(layer.params) do
      if p.name == "self_attn.k_proj.weight" then
        assert.are.equal("attn_scale", p.prescale)
      else
        assert.is_nil(p.prescale)
      end
    end
  end)

  it("compiles to a program with one slot per tensor and an index per observer", function()
    local compiled, observers = program.compile(layer)
    assert.are.equal(64, compiled.n_obs)
    assert.are.equal(64, #observers)
    assert.are.equal(#layer.inputs + #layer.params + #layer.nodes, #compiled.slots)
    assert.are.equal(#program.PORTS, #compiled.ports)
    for _, nd in ipairs(compiled.nodes) do
      assert.is_true(nd.op >= 0 and nd.op < #program.OPS)
    end
  end)

  it("evaluates symbolic shapes", function()
    assert.are.same({ { 0 }, { 4, 6 } }, program.parse_shape("S H*d"))
    assert.are.equal(2 * 8 * 4, program.numel("S H*d", { S = 2, H = 8, d = 4 }))
    assert.has_error(function() program.parse_shape("S X") end)
  end)
end)
