-- The model level around the decoder layers: the token embedding and the
-- tensors every layer is handed (the additive mask, the RoPE rows). TICO
-- 0.3.0's QuantLlamaModel observes each of them once, before the layers
-- observe them again on their own (tico-semantics.md §7.5):
--
--   model.embed_tokens.weight   the table, one grid per vocabulary row (a
--                               weight: per-channel on axis 0 by default)
--   model.embed_tokens.act_out  the looked-up rows: layer 0's input grid
--   model.causal_mask           the mask, before each layer's attn_mask
--   model.cos, model.sin        the RoPE rows, before each layer's cos, sin
--
-- Same node format as graph/llama_layer.lua; observer names are full paths.
-- No executor runs this graph: the float model looks the rows up and builds
-- mask and tables natively, the fake-quant reference applies these grids
-- where the float model hands the tensors over, and the generated C looks
-- the rows up and requantizes them (templates/model.c) with the mask implicit
-- and the tables quantized at generation time.
--
-- calib_from: in calibration nothing is fake-quantized, so these observers
-- see the very tensors that this observer of layer 0 sees; kiln takes their
-- ranges from there rather than observing the same tensor twice.

local nodes = require "graph.nodes"

local model = {}

model.name = "llama_model"
model.model_level = true

model.inputs = {
  { name = "tokens", shape = "S",   doc = "token ids" },
  { name = "mask",   shape = "S K", doc = "additive attention mask, 0 or -120" },
  { name = "cos",    shape = "S d", doc = "RoPE cos rows" },
  { name = "sin",    shape = "S d", doc = "RoPE sin rows, first d/2 entries negated" },
}

model.params = {
  { name = "model.embed_tokens.weight", shape = "V D", role = "embedding" },
}

model.outputs = {
  { name = "x",      doc = "layer 0's input (model.embed_tokens.act_out grid)" },
  { name = "mask_m", doc = "every layer's mask" },
  { name = "cos_m",  doc = "every layer's cos rows" },
  { name = "sin_m",  doc = "every layer's sin rows" },
}

model.OPS = {
  embedding = "y[s,:] = table[tokens[s], :]",
}

model.nodes = {
  { op = "quant", out = "embed_w", ins = { "model.embed_tokens.weight" }, obs = "model.embed_tokens.weight" },
  { op = "embedding", out = "x", ins = { "tokens", "embed_w" }, obs = "model.embed_tokens.act_out", shape = "S D",
    calib_from = "input_layernorm.act_in" },
  { op = "quant", out = "mask_m", ins = { "mask" }, obs = "model.causal_mask", calib_from = "attn_mask",
    template = true },
  { op = "quant", out = "cos_m", ins = { "cos" }, obs = "model.cos", calib_from = "cos" },
  { op = "quant", out = "sin_m", ins = { "sin" }, obs = "model.sin", calib_from = "sin" },
}

nodes.resolve_shapes(model)

function model.observers()
  return nodes.observers(model)
end

-- The node of an observer, by its path.
function model.node_of(path)
  for _, nd in ipairs(model.nodes) do
    if nd.obs == path then return nd end
  end
end

return model
