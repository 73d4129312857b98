-- The model head: final RMSNorm and the classifier, after the last decoder
-- layer. Same node format as graph/llama_layer.lua; its observers are
-- model-level paths (TICO's QuantRMSNorm on model.norm and QuantLinear on
-- lm_head), so an integer target computes logits without float.

local nodes = require "graph.nodes"

local head = {}

head.name = "llama_head"
head.model_level = true -- observer names are full paths, not per layer

head.inputs = {
  { name = "x", shape = "S D", doc = "output of the last decoder layer" },
}

head.params = {
  { name = "model.norm.weight", shape = "D",   role = "norm" },
  { name = "lm_head.weight",    shape = "V D", role = "linear" },
}

head.outputs = {
  { name = "y", doc = "logits (lm_head.act_out grid)" },
}

head.nodes = {
  { op = "quant",   out = "norm_in", ins = { "x" },                 obs = "model.norm.act_in",  shape = "S D" },
  { op = "quant",   out = "norm_w",  ins = { "model.norm.weight" }, obs = "model.norm.weight",  shape = "D" },
  { op = "rmsnorm", out = "normed",  ins = { "norm_in", "norm_w" }, obs = "model.norm.act_out", shape = "S D" },
  { op = "quant",   out = "head_in", ins = { "normed" },            obs = "lm_head.act_in",     shape = "S D" },
  { op = "quant",   out = "head_w",  ins = { "lm_head.weight" },    obs = "lm_head.weight",     shape = "V D" },
  { op = "linear",  out = "y",       ins = { "head_in", "head_w" }, obs = "lm_head.act_out",    shape = "S V" },
}

function head.observers()
  return nodes.observers(head)
end

return head
