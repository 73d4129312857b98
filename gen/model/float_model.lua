-- Builds the float reference model (runtime/float) from a checkpoint: loads
-- every weight the layer graph names, applies the graph's weight transforms
-- (k_proj scale fusion), compiles the graph and hands it all to the native
-- executor.

local layer_graph = require "graph.llama_layer"
local program = require "graph.program"

local float_model = {}

-- TICO's attn_scale: float(head_dim ** -0.5), applied to float32 weights.
local function prescale_factor(kind, desc)
  if kind == "attn_scale" then return desc.head_dim ^ -0.5 end
  error("unknown prescale '" .. tostring(kind) .. "'")
end

-- load(native, ckpt) -> model: { native = Model, desc, observers = {names},
-- weights = { [layer+1] = { [param name] = Tensor } } }
function float_model.load(native, ckpt)
  local desc = ckpt.description
  local compiled, observers = program.compile(layer_graph)
  local prog = native.program(compiled)

  local weights, params = {}, {}
  for l = 0, desc.layers - 1 do
    local by_name, list = {}, {}
    for k, p in ipairs(layer_graph.params) do
      local t = ckpt:load(native, string.format("model.layers.%d.%s", l, p.name))
      if p.prescale then t = t:scaled(prescale_factor(p.prescale, desc)) end
      by_name[p.name] = t
      list[k] = t
    end
    weights[l + 1] = by_name
    params[l + 1] = list
  end
  local embedding = ckpt:load(native, "model.embed_tokens.weight")
  local classifier = desc.tied_embeddings and embedding or ckpt:load(native, "lm_head.weight")

  local model = native.model {
    D = desc.hidden, H = desc.heads, Hk = desc.kv_heads, hd = desc.head_dim, I = desc.intermediate,
    vocab = desc.vocab, layers = desc.layers, max_seq = desc.max_seq,
    rms_eps = desc.rms_eps, rope_theta = desc.rope_theta,
    program = prog,
    embedding = embedding,
    final_norm = ckpt:load(native, "model.norm.weight"),
    classifier = classifier,
    params = params,
  }
  return { native = model, desc = desc, observers = observers, weights = weights }
end

return float_model
