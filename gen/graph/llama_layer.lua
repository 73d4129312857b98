-- The Llama decoder layer: the one graph.
--
-- Every op and every quantization point of one decoder layer, in the order of
-- TICO's npu_export profile (tico-semantics.md §1.2: unrolled heads, k_proj
-- scale fusion, pre-negated sin). It is the single source of truth: the
-- calibrator runs it in float with an observer at each point, the fake-quant
-- reference runs it with TICO's fake quantization at each point, and the code
-- generator emits one integer kernel per node from it. Prefill, decode and
-- append-prefill are the same graph with different S (query length) and P
-- (past length), so observer placement cannot differ between them.
--
-- A node is { op, out, ins, obs, shape, ... }:
--   op     what is computed (see OPS below for the semantics of each)
--   out    the tensor the node writes
--   ins    the tensors it reads (graph inputs, params or earlier outputs)
--   obs    the observer whose grid the result is fake-quantized on; its path
--          relative to the layer is TICO's name (model.layers.N.<obs>).
--          nil only where TICO has no observer (the attention residual, h1).
--   shape  the output shape, in the symbolic dims below
--   per    "kv_head" / "q_head": TICO computes the node inside its unrolled
--          head loop (the same observer serves every head)
--   template  the observed tensor is the runtime's template (the mask: 0 and
--          -120), not data: its observer keeps min/max whatever the
--          calibration's statistic (calib/observers.lua)
--
-- Dims: S query tokens, P past tokens, K = P + S keys, D hidden, H heads,
-- Hk kv heads, d head_dim, d2 = d/2, I intermediate. A shape entry may be a
-- product such as "H*d".

local nodes = require "graph.nodes"

local layer = {}

layer.name = "llama_decoder_layer"

layer.inputs = {
  { name = "x",      shape = "S D",    doc = "layer input; also the raw residual (not quantized)" },
  { name = "mask",   shape = "S K",    doc = "additive attention mask, 0 or -120" },
  { name = "cos",    shape = "S d",    doc = "RoPE cos rows at each token's position" },
  { name = "sin",    shape = "S d",    doc = "RoPE sin rows, first d/2 entries negated (pre_negated_sin)" },
  { name = "past_k", shape = "Hk P d", doc = "cached keys (empty in prefill)" },
  { name = "past_v", shape = "Hk P d", doc = "cached values (empty in prefill)" },
}

-- Params: role "norm" (RMSNorm gamma) or "linear" (weight [out, in], per-channel
-- on axis 0 by default). `prescale = "attn_scale"` is TICO's k_proj scale
-- fusion: the weight is multiplied by head_dim^-0.5 when wrapped, so its
-- observer sees the scaled rows and K in the cache is d^-0.5 * RoPE(k).
layer.params = {
  { name = "input_layernorm.weight",          shape = "D",       role = "norm" },
  { name = "self_attn.q_proj.weight",         shape = "H*d D",   role = "linear" },
  { name = "self_attn.k_proj.weight",         shape = "Hk*d D",  role = "linear", prescale = "attn_scale" },
  { name = "self_attn.v_proj.weight",         shape = "Hk*d D",  role = "linear" },
  { name = "self_attn.o_proj.weight",         shape = "D H*d",   role = "linear" },
  { name = "post_attention_layernorm.weight", shape = "D",       role = "norm" },
  { name = "mlp.gate_proj.weight",            shape = "I D",     role = "linear" },
  { name = "mlp.up_proj.weight",              shape = "I D",     role = "linear" },
  { name = "mlp.down_proj.weight",            shape = "D I",     role = "linear" },
}

layer.outputs = {
  { name = "y",     doc = "layer output (mlp_residual_out grid)" },
  { name = "new_k", doc = "keys of the S new tokens, head-major (the cache delta)" },
  { name = "new_v", doc = "values of the S new tokens, head-major (the cache delta)" },
}

-- What each op computes, in float. The executors (runtime/float, and the
-- integer kernels of each target) implement exactly these.
layer.OPS = {
  quant       = "y = x (the fake quantization is the node's observer)",
  rmsnorm     = "y = w * (x * rsqrt(mean(x^2) + eps)) over the last dim",
  linear      = "y = x W^T, W [out, in]",
  take_half   = "y = first (half = 1) or second (half = 2) half of each head's d values",
  concat_halves = "y = cat(a, b) per head: [S n d2] ++ [S n d2] -> [S n d]",
  mul_rows    = "y[s,n,:] = x[s,n,:] * table[s,:] (table broadcast over heads)",
  add         = "y = a + b",
  mul         = "y = a * b",
  sigmoid     = "y = 1 / (1 + exp(-x))",
  cache_cat   = "y[n] = cat(past[n], new[:, n]) along the sequence: [Hk P d], [S Hk d] -> [Hk K d]",
  qk          = "y[j,s,t] = q[s,j,:] . k[j / (H/Hk), t, :]   (GQA: q head j reads kv head j/r)",
  add_mask    = "y[j,s,t] = x[j,s,t] + mask[s,t]",
  softmax     = "y = softmax over the last dim, in float32",
  pv          = "y[s,j,:] = sum_t p[j,s,t] * v[j / (H/Hk), t, :]",
  heads_first = "y[n,s,:] = x[s,n,:]",
}

local function node(op, out, ins, obs, shape, extra)
  local n = { op = op, out = out, ins = ins, obs = obs, shape = shape }
  for k, v in pairs(extra or {}) do n[k] = v end
  return n
end

-- q = Linear_p(x): QuantLinear's three observers act_in, weight, act_out.
local function linear(nodes, prefix, out, x, shape)
  nodes[#nodes + 1] = node("quant", out .. "_in", { x }, prefix .. ".act_in", nil)
  nodes[#nodes + 1] = node("quant", out .. "_w", { prefix .. ".weight" }, prefix .. ".weight", nil)
  nodes[#nodes + 1] = node("linear", out, { out .. "_in", out .. "_w" }, prefix .. ".act_out", shape)
end

-- t = ROPE(t, pfx): split, rotate, multiply by the tables, add (six observers).
local function rope(nodes, p, t, heads, per)
  local o = "self_attn." .. p
  local half_shape = "S " .. heads .. " d2"
  local full_shape = "S " .. heads .. " d"
  nodes[#nodes + 1] = node("take_half", p .. "x1", { t }, o .. "x1", half_shape, { half = 1, per = per })
  nodes[#nodes + 1] = node("take_half", p .. "x2", { t }, o .. "x2", half_shape, { half = 2, per = per })
  -- pre_negated_sin: cat(x2, x1), no negation; the sin table carries the sign.
  nodes[#nodes + 1] = node("concat_halves", p .. "cat", { p .. "x2", p .. "x1" }, o .. "cat", full_shape, { per = per })
  -- TICO multiplies the un-split t (still on the *_proj.act_out grid) by cos.
  nodes[#nodes + 1] = node("mul_rows", p .. "cos", { t, "cos_a" }, o .. "cos", full_shape, { per = per })
  nodes[#nodes + 1] = node("mul_rows", p .. "sin", { p .. "cat", "sin_a" }, o .. "sin", full_shape, { per = per })
  nodes[#nodes + 1] = node("add", p .. "rot", { p .. "cos", p .. "sin" }, o .. "rot", full_shape, { per = per })
end

local function rmsnorm(nodes, prefix, out, x)
  nodes[#nodes + 1] = node("quant", out .. "_in", { x }, prefix .. ".act_in", "S D")
  nodes[#nodes + 1] = node("quant", out .. "_w", { prefix .. ".weight" }, prefix .. ".weight", "D")
  nodes[#nodes + 1] = node("rmsnorm", out, { out .. "_in", out .. "_w" }, prefix .. ".act_out", "S D")
end

local function build()
  local n = {}
  -- 1-4: input RMSNorm (the residual keeps the raw x)
  rmsnorm(n, "input_layernorm", "h", "x")
  -- 5-6: decoder-level mask and RoPE tables
  n[#n + 1] = node("quant", "mask_l", { "mask" }, "attn_mask", "S K", { template = true })
  n[#n + 1] = node("quant", "cos_l", { "cos" }, "cos", "S d")
  n[#n + 1] = node("quant", "sin_l", { "sin" }, "sin", "S d")
  -- 7: incoming cache (empty in prefill)
  n[#n + 1] = node("quant", "pk", { "past_k" }, "self_attn.past_key", "Hk P d")
  n[#n + 1] = node("quant", "pv", { "past_v" }, "self_attn.past_value", "Hk P d")
  -- 8-9: projections
  n[#n + 1] = node("quant", "hq", { "h" }, "self_attn.hidden", "S D")
  linear(n, "self_attn.q_proj", "q", "hq", "S H d")
  linear(n, "self_attn.k_proj", "k", "hq", "S Hk d")
  linear(n, "self_attn.v_proj", "v", "hq", "S Hk d")
  -- 10-11: the attention's own copies of the tables and the mask
  n[#n + 1] = node("quant", "cos_a", { "cos_l" }, "self_attn.cos", "S d")
  n[#n + 1] = node("quant", "sin_a", { "sin_l" }, "self_attn.sin", "S d")
  n[#n + 1] = node("quant", "mask_a", { "mask_l" }, "self_attn.attn_mask", "S K", { template = true })
  -- 12: per kv head: RoPE(K), present K/V; per q head: RoPE(Q) and attention
  rope(n, "k_", "k", "Hk", "kv_head")
  n[#n + 1] = node("cache_cat", "present_k", { "pk", "k_rot" }, "self_attn.present_key", "Hk K d", { per = "kv_head" })
  n[#n + 1] = node("cache_cat", "present_v", { "pv", "v" }, "self_attn.present_value", "Hk K d", { per = "kv_head" })
  rope(n, "q_", "q", "H", "q_head")
  n[#n + 1] = node("qk", "logits", { "q_rot", "present_k" }, "self_attn.logits", "H S K", { per = "q_head" })
  n[#n + 1] = node("add_mask", "scores", { "logits", "mask_a" }, "self_attn.mask_add", "H S K", { per = "q_head" })
  n[#n + 1] = node("softmax", "probs", { "scores" }, "self_attn.softmax", "H S K", { per = "q_head" })
  n[#n + 1] = node("pv", "attn", { "probs", "present_v" }, "self_attn.attn_out", "S H d", { per = "q_head" })
  -- 13: stacked probabilities, a side output only (nothing reads it)
  n[#n + 1] = node("quant", "attn_weights", { "probs" }, "self_attn.attn_weights", "H S K", { side = true })
  -- 14-15: heads stacked, output projection
  n[#n + 1] = node("quant", "attn_h", { "attn" }, "self_attn.attn_out_h", "S H d")
  linear(n, "self_attn.o_proj", "o", "attn_h", "S D")
  -- 16: the cache delta
  n[#n + 1] = node("heads_first", "new_k", { "k_rot" }, "self_attn.new_k", "Hk S d")
  n[#n + 1] = node("heads_first", "new_v", { "v" }, "self_attn.new_v", "Hk S d")
  -- 17: attention residual: TICO has no observer here
  n[#n + 1] = node("add", "h1", { "x", "o" }, nil, "S D")
  -- 18: post-attention RMSNorm
  rmsnorm(n, "post_attention_layernorm", "h2", "h1")
  -- 19: MLP with SiLU as sigmoid and product
  n[#n + 1] = node("quant", "m_in", { "h2" }, "mlp.act_in", "S D")
  linear(n, "mlp.gate_proj", "gate", "m_in", "S I")
  linear(n, "mlp.up_proj", "up", "m_in", "S I")
  n[#n + 1] = node("quant", "act_in", { "gate" }, "mlp.act_fn.act_in", "S I")
  n[#n + 1] = node("sigmoid", "act_sig", { "act_in" }, "mlp.act_fn.sigmoid", "S I")
  n[#n + 1] = node("mul", "act", { "act_in", "act_sig" }, "mlp.act_fn.mul", "S I")
  n[#n + 1] = node("mul", "prod", { "act", "up" }, "mlp.mul", "S I")
  linear(n, "mlp.down_proj", "down", "prod", "S D")
  -- 20: layer output
  n[#n + 1] = node("add", "y", { "h1", "down" }, "mlp_residual_out", "S D")
  return n
end

layer.nodes = build()

nodes.resolve_shapes(layer)

-- Every observer in graph order: { name, node, param }.
function layer.observers()
  return nodes.observers(layer)
end

return layer
