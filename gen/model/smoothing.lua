-- SmoothQuant's factors folded into a layer's weights as they load
-- (calib/algorithms/smoothquant.lua computes them): the norm weight divided
-- by s, the columns of the Linears after it multiplied by s, in float32.
-- The float model computes the same function up to float32 rounding.

local smoothing = {}

-- The smoothed pairs: the norm, its output observer, the Linears after it.
smoothing.PAIRS = {
  { norm = "input_layernorm", act = "input_layernorm.act_out",
    linears = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj" } },
  { norm = "post_attention_layernorm", act = "post_attention_layernorm.act_out",
    linears = { "mlp.gate_proj", "mlp.up_proj" } },
}

-- The pair a layer parameter belongs to, and whether it is the norm.
local function pair_of(param_name)
  for _, pair in ipairs(smoothing.PAIRS) do
    if param_name == pair.norm .. ".weight" then return pair, true end
    for _, lin in ipairs(pair.linears) do
      if param_name == lin .. ".weight" then return pair, false end
    end
  end
  return nil
end

-- fold(param_name, t, layer_factors) -> t smoothed (float32), or t itself
-- when the parameter is not part of a smoothed pair.
function smoothing.fold(param_name, t, layer_factors)
  local pair, is_norm = pair_of(param_name)
  if not pair then return t end
  return t:column_scaled(layer_factors[pair.norm], is_norm)
end

return smoothing
