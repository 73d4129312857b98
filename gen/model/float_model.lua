-- Builds the float reference model (runtime/float) from a checkpoint: loads
-- every weight the graphs name, applies the graphs' weight transforms (k_proj
-- scale fusion), compiles the layer and head graphs and hands it all to the
-- native executor. with_fake_quant() gives the same model in TICO's QUANT
-- mode: weights fake-quantized once, every activation observer applied.

local fail = require "util.fail"
local layer_graph = require "graph.llama_layer"
local head_graph = require "graph.llama_head"
local program = require "graph.program"
local qparams = require "calib.qparams"
local rope = require "model.rope"
local smoothing = require "model.smoothing"

local float_model = {}

float_model.EMBEDDING = "model.embed_tokens.weight"

-- TICO's attn_scale: float(head_dim ** -0.5), applied to float32 weights.
-- As 1 / sqrt(head_dim): two correctly rounded operations (pow is libm's,
-- and its last bit depends on the host).
local function prescale_factor(kind, desc)
  if kind == "attn_scale" then return 1.0 / math.sqrt(desc.head_dim) end
  error("unknown prescale '" .. tostring(kind) .. "'")
end
float_model.prescale_factor = prescale_factor

local function new_native(native, model, params, head_params, embedding)
  local desc = model.desc
  -- buffers that do not fit (a header's seq_len of 1e6) are the input's
  -- fault, not kiln's: refused naming the checkpoint and its context length
  local ok, m = pcall(native.model, {
    D = desc.hidden, H = desc.heads, Hk = desc.kv_heads, hd = desc.head_dim, I = desc.intermediate,
    vocab = desc.vocab, layers = desc.layers, max_seq = desc.max_seq,
    rms_eps = desc.rms_eps, rope = rope.native(desc),
    program = model.program, head_program = model.head_program,
    embedding = embedding, params = params, head_params = head_params,
  })
  if ok then return m end
  if tostring(m):match("out of memory") then
    fail.raise(desc.weights and desc.weights.file or nil, "max_seq", string.format("the float reference's buffers "
      .. "for a context of %d tokens (%d layers, hidden %d) do not fit in memory", desc.max_seq, desc.layers, desc.hidden))
  end
  error(m, 0)
end

-- load(native, ckpt [, opts]) -> model: { native = Model, desc, ckpt, observers,
-- head_observers, weights = { [layer+1] = { [param name] = Tensor } },
-- head_weights = { [name] = Tensor }, embedding, params, head_params (the
-- same tensors in the graphs' param order) }.
-- opts.weights_only: no native model (code generation needs only the weights);
-- opts.max_seq: a shorter context for the executor's buffers;
-- opts.smoothing: SmoothQuant factors to fold into the weights as they load
-- (a qparams file's "smoothing"; model/smoothing.lua).
function float_model.load(native, ckpt, opts)
  opts = opts or {}
  local desc = ckpt.description
  if opts.max_seq and opts.max_seq < desc.max_seq then
    local copy = {}
    for k, v in pairs(desc) do copy[k] = v end
    copy.max_seq = opts.max_seq
    desc = copy
  end
  local compiled, observers = program.compile(layer_graph)
  local head_compiled, head_observers = program.compile(head_graph)
  local model = {
    desc = desc, ckpt = ckpt, observers = observers, head_observers = head_observers,
    program = native.program(compiled), head_program = native.program(head_compiled),
    weights = {}, head_weights = {},
  }
  local params = {}
  for l = 0, desc.layers - 1 do
    local by_name, list = {}, {}
    for k, p in ipairs(layer_graph.params) do
      local t = ckpt:load(native, string.format("model.layers.%d.%s", l, p.name))
      if opts.smoothing then t = smoothing.fold(p.name, t, opts.smoothing.layers[l + 1]) end
      if p.prescale then t = t:scaled(prescale_factor(p.prescale, desc)) end
      by_name[p.name] = t
      list[k] = t
    end
    model.weights[l + 1] = by_name
    params[l + 1] = list
  end
  local head_params = {}
  for k, p in ipairs(head_graph.params) do
    local t = ckpt:load(native, p.name)
    model.head_weights[p.name] = t
    head_params[k] = t
  end
  model.embedding = ckpt:load(native, float_model.EMBEDDING)
  model.params, model.head_params = params, head_params
  if not opts.weights_only then model.native = new_native(native, model, params, head_params, model.embedding) end
  return model
end

-- with_layer_weights(native, model, l, raw) -> a native Model whose layer l
-- has the weights raw[param name] where given (as a checkpoint holds them:
-- the graph's prescale is applied here), model's own elsewhere: GPTQ's
-- re-forward of a layer once its Linears are quantized.
function float_model.with_layer_weights(native, model, l, raw)
  local params = table.move(model.params, 1, #model.params, 1, {})
  local list = {}
  for k, p in ipairs(layer_graph.params) do
    local t = raw[p.name]
    if t and p.prescale then t = t:scaled(prescale_factor(p.prescale, model.desc)) end
    list[k] = t or model.params[l + 1][k]
  end
  params[l + 1] = list
  return new_native(native, model, params, model.head_params, model.embedding)
end

-- The fake-quant parameters of one observer for the executor: a table, or
-- false for weight observers (their weights are fake-quantized up front).
local function fq_entry(q)
  local dt = qparams.DTYPES[q.dtype]
  return { scale = q.scale, zero_point = q.zero_point, qmin = dt.qmin, qmax = dt.qmax }
end

local function fake_quant_weight(t, q)
  local dt = qparams.DTYPES[q.dtype]
  return t:fake_quant(q.scale, q.zero_point, dt.qmin, dt.qmax)
end

-- with_fake_quant(native, model, qp) -> a second native Model running TICO's
-- QUANT mode with the observers of qp (a read qparams file: qp.observers[path]),
-- the model level's included (graph/llama_model.lua): the table fake-quantized
-- per row, the looked-up rows on model.embed_tokens.act_out, the mask and
-- the RoPE rows on model.causal_mask, model.cos and model.sin.
function float_model.with_fake_quant(native, model, qp)
  local obs = qp.observers
  local layer_fq, params, scales = {}, {}, {}
  for l = 0, model.desc.layers - 1 do
    local prefix = string.format("model.layers.%d.", l)
    local fq, list, rows = {}, {}, {}
    for i, o in ipairs(layer_graph.observers()) do
      fq[i] = (not o.param) and fq_entry(obs[prefix .. o.name]) or false
    end
    for k, p in ipairs(layer_graph.params) do
      local q = obs[prefix .. p.name]
      list[k] = fake_quant_weight(model.weights[l + 1][p.name], q)
      rows[k] = type(q.scale) == "table" and q.scale or { q.scale }
    end
    layer_fq[l + 1], params[l + 1], scales[l + 1] = fq, list, rows
  end
  local head_fq, head_params = {}, {}
  for i, o in ipairs(head_graph.observers()) do
    head_fq[i] = (not o.param) and fq_entry(obs[o.name]) or false
  end
  for k, p in ipairs(head_graph.params) do
    head_params[k] = fake_quant_weight(model.head_weights[p.name], obs[p.name])
  end
  local embedding = fake_quant_weight(model.embedding, obs[float_model.EMBEDDING])
  local m = new_native(native, model, params, head_params, embedding)
  m:fake_quant(layer_fq, head_fq, { embed = fq_entry(obs["model.embed_tokens.act_out"]),
    mask = fq_entry(obs["model.causal_mask"]), cos = fq_entry(obs["model.cos"]), sin = fq_entry(obs["model.sin"]) })
  m:exact_weights(scales)
  return m
end

return float_model
