-- Which dtype and qscheme each observer gets.
--
-- The observers are the layer graph's (graph/llama_layer.lua), one set per
-- layer. Their quantization spec is resolved the way TICO resolves it
-- (tico-semantics.md §1.4): an explicit override beats the wrapper default,
-- which beats the role (activation / weight) of the preset; where no qscheme
-- is given anywhere, TICO's auto_qscheme_for decides from the dtype.

local fail = require "util.fail"
local qparams = require "calib.qparams"
local sandbox = require "util.sandbox"
local statistics = require "calib.statistics"

local observers = {}

-- Presets name TICO configurations.
--   w8a8:  PTQConfig(): everything uint8 asymmetric; QuantLinear's wrapper
--          default makes Linear weights per-channel (axis 0).
--   w8a16: int16 symmetric activations, uint8 per-channel Linear weights,
--          int16 RMSNorm weights (build_llm_ptq_config with linear_weight=uint8,
--          norm_weight=int16).
--   Both: the embedding table uint8 per-channel over its vocabulary rows
--   (QuantEmbedding's wrapper default on the uint8 parameter role).
observers.PRESETS = {
  w8a8 = { activation = "uint8", linear_weight = "uint8", norm_weight = "uint8", embedding_weight = "uint8" },
  w8a16 = { activation = "int16", linear_weight = "uint8", norm_weight = "int16", embedding_weight = "uint8" },
}

-- The KV cache observers kiln ties by default: what a layer writes (new_*),
-- what it concatenates (present_*) and what it reads back (past_*) must share
-- one integer format, or the cache is silently requantized on every step.
observers.KV_GROUPS = {
  { "self_attn.new_k", "self_attn.present_key", "self_attn.past_key" },
  { "self_attn.new_v", "self_attn.present_value", "self_attn.past_value" },
}

local OVERRIDE_FIELDS = { dtype = true, qscheme = true, observer = true, percentile = true }

-- TICO's activation observers (tico-semantics.md §2.2; gen/calib/statistics.lua
-- keeps their statistics). Weights are observed once, from the weights
-- themselves, so they take min/max whatever is asked.
observers.STATISTICS = { "minmax", "ema", "percentile" }
observers.DEFAULT_STATISTIC = { kind = "minmax" }

-- check_statistic(kind, percentile) -> nil, or what is wrong with it
function observers.check_statistic(kind, percentile)
  local known = false
  for _, k in ipairs(observers.STATISTICS) do known = known or k == kind end
  if not known then return "unknown observer '" .. tostring(kind) .. "' (minmax, ema, percentile)" end
  if percentile ~= nil then
    if kind ~= "percentile" then return "percentile is only for observer = \"percentile\"" end
    if type(percentile) ~= "number" or not (percentile > 0 and percentile <= 100) then
      return "percentile must be a number in (0, 100]"
    end
  end
  return nil
end

-- record(overrides) -> what a loaded overrides file says, as a json object
-- (key -> { dtype, qscheme [, observer, percentile] }), or json null without
-- one: for the files that record how they were made.
function observers.record(overrides)
  local json = require "util.json"
  if not overrides then return json.null end
  local o = json.object()
  for _, item in ipairs(overrides.list) do
    local spec = json.object()
    if item.dtype then spec:set("dtype", item.dtype):set("qscheme", item.qscheme or json.null) end
    if item.observer then spec:set("observer", item.observer) end
    if item.percentile then spec:set("percentile", item.percentile) end
    o:set(item.key, spec)
  end
  return o
end

-- Loads an overrides file: a Lua chunk returning { [path] = { dtype = , qscheme = ,
-- observer = , percentile = } } (dtype defaults to the preset's).
-- A path is relative to a layer ("self_attn.softmax", or a module prefix such
-- as "mlp") for every layer, or absolute ("model.layers.3.mlp.down_proj.act_in").
function observers.load_overrides(path)
  return observers.check_overrides(sandbox.load(path, nil, "overrides"), path)
end

-- check_overrides(value, where) -> { path = where, list }: an overrides
-- table (a file's, or a recipe's overrides field) checked and sorted.
function observers.check_overrides(value, path)
  local list = {}
  for key, spec in pairs(value) do
    if type(key) ~= "string" then fail.raise(path, tostring(key), "keys must be observer paths (strings)") end
    if type(spec) ~= "table" then fail.raise(path, key, "value must be a table such as { dtype = \"int16\" }") end
    for field in pairs(spec) do
      if not OVERRIDE_FIELDS[field] then fail.raise(path, key, "unknown field '" .. tostring(field) .. "' (dtype, qscheme, observer, percentile)") end
    end
    if spec.dtype == nil and spec.observer == nil then fail.raise(path, key, "dtype missing") end
    if spec.dtype ~= nil and type(spec.dtype) ~= "string" then fail.raise(path, key, "dtype must be a string") end
    if spec.qscheme ~= nil and type(spec.qscheme) ~= "string" then fail.raise(path, key, "qscheme must be a string") end
    if spec.qscheme ~= nil and spec.dtype == nil then fail.raise(path, key, "qscheme needs a dtype") end
    if spec.dtype then
      local problem = qparams.check(spec.dtype, spec.qscheme or qparams.auto_qscheme(spec.dtype, false))
      if problem then fail.raise(path, key, problem) end
    end
    if spec.observer ~= nil or spec.percentile ~= nil then
      local problem = observers.check_statistic(spec.observer, spec.percentile)
      if problem then fail.raise(path, key, problem) end
    end
    list[#list + 1] = { key = key, dtype = spec.dtype, qscheme = spec.qscheme, observer = spec.observer,
      percentile = spec.percentile }
  end
  table.sort(list, function(a, b) return a.key < b.key end)
  local by_key = {}
  for _, o in ipairs(list) do by_key[o.key] = o end
  return { path = path, list = list, by_key = by_key }
end

local function find_override(overrides, layer_prefix, rel)
  if not overrides then return nil end
  -- each module prefix of rel, then rel itself: n components deep; a key for
  -- this layer (layer_prefix .. prefix) beats the relative one of its depth.
  -- Looked up by name, so a file of many keys costs no more per observer.
  local by_key = overrides.by_key
  local best, best_rank, n, from = nil, nil, 0, 1
  while from <= #rel + 1 do
    local dot = rel:find(".", from, true) or (#rel + 1)
    local prefix = rel:sub(1, dot - 1)
    n = n + 1
    for specific = 0, 1 do
      local o = by_key[specific == 1 and (layer_prefix .. prefix) or prefix]
      local rank = n * 2 + specific
      if o and (not best_rank or rank > best_rank) then best, best_rank = o, rank end
    end
    from = dot + 1
  end
  if best then best.used = true end
  return best
end

local function spec_for(preset, role, override, where, path)
  local dtype, qscheme
  local weight = role == "linear" or role == "embedding"
  if override and override.dtype then
    dtype = override.dtype
    qscheme = override.qscheme or qparams.auto_qscheme(dtype, weight or role == "norm")
  elseif weight then
    -- QuantLinear's and QuantEmbedding's wrapper default
    dtype, qscheme = role == "linear" and preset.linear_weight or preset.embedding_weight, "per_channel_asymm"
  elseif role == "norm" then
    dtype = preset.norm_weight
    qscheme = qparams.auto_qscheme(dtype, true)
  else
    dtype = preset.activation
    qscheme = qparams.auto_qscheme(dtype, false)
  end
  local axis
  if qscheme:match("^per_channel") then
    if weight then
      axis = 0 -- output channels: rows of W [out, in], the table's vocabulary rows
    elseif role == "norm" then
      -- TICO labels RMSNorm weights per-channel but gives them no channel
      -- axis, so they are quantized per tensor.
      qscheme = qscheme:gsub("^per_channel", "per_tensor")
    else
      fail.raise(where, path, "per-channel quantization needs a channel axis; only Linear and embedding weights have one")
    end
  end
  return dtype, qscheme, axis
end

-- The statistic an observer keeps: the override's, else the calibration's
-- default for activations; weights always min/max, and so does the mask: its
-- values are the runtime's template, the same in every forward, and a moving
-- statistic over decode rows that hold no -120 (an EMA) would pull the fill
-- off the grid that kiln's implicit mask needs.
local function statistic_for(role, node, override, default, where, path)
  local kind = override and override.observer or default.kind
  if role ~= "activation" or node.template then
    if override and override.observer and override.observer ~= "minmax" then
      fail.raise(where, path, role ~= "activation"
        and "a weight is observed once, from the weight itself: only observer = \"minmax\""
        or "the mask is the runtime's template of 0 and -120, not data: only observer = \"minmax\"")
    end
    return observers.DEFAULT_STATISTIC
  end
  if kind == "percentile" then
    return { kind = kind, percentile = override and override.percentile or default.percentile
      or statistics.DEFAULT_PERCENTILE }
  end
  return { kind = kind }
end

-- resolve(layers, preset, overrides [, statistic]) -> every observer of the model, in
-- TICO's named_observers() order (graph/tico_order.lua): the model level
-- (graph/llama_model.lua), the head graph's norm, the layer graph's
-- observers layer by layer, the classifier. Each entry:
--   { path, name, graph = "model" | "layer" | "head", layer, index, node, role,
--     param, dtype, qscheme, axis, calib_from, statistic = { kind [, percentile] } }
-- statistic (default min/max) gives the activations' observer
-- ({ kind = "percentile", percentile = 99.9 }); overrides may set it per observer.
-- role is "activation", "linear", "norm" or "embedding"; index is the
-- observer's position in its graph (0-based, as the executor counts);
-- calib_from names the layer-0 observer a model-level one shares its data with.
function observers.resolve(layers, preset_name, overrides, statistic)
  local layer_graph = require "graph.llama_layer"
  local head_graph = require "graph.llama_head"
  local model_graph = require "graph.llama_model"
  local tico_order = require "graph.tico_order"
  local preset = observers.PRESETS[preset_name]
  if not preset then fail.usage("--preset: unknown preset '" .. tostring(preset_name) .. "' (w8a8, w8a16)") end
  local where = overrides and overrides.path or nil
  local entries = {}
  local function add(graph, layer, prefix, index, obs)
    local path = prefix .. obs.name
    local role = obs.param and obs.param.role or "activation"
    local override = find_override(overrides, prefix, obs.name)
    local dtype, qscheme, axis = spec_for(preset, role, override, where, path)
    entries[#entries + 1] = {
      path = path, name = obs.name, graph = graph, layer = layer, index = index, node = obs.node,
      role = role, param = obs.param, dtype = dtype, qscheme = qscheme, axis = axis, calib_from = obs.node.calib_from,
      statistic = statistic_for(role, obs.node, override, statistic or observers.DEFAULT_STATISTIC, where, path),
    }
  end
  for i, obs in ipairs(model_graph.observers()) do add("model", nil, "", i - 1, obs) end
  for l = 0, layers - 1 do
    local prefix = string.format("model.layers.%d.", l)
    for i, obs in ipairs(layer_graph.observers()) do add("layer", l, prefix, i - 1, obs) end
  end
  for i, obs in ipairs(head_graph.observers()) do add("head", nil, "", i - 1, obs) end
  tico_order.sort(entries, function(e) return e.path end)
  if overrides then
    for _, o in ipairs(overrides.list) do
      if not o.used then fail.raise(overrides.path, o.key, "matches no observer") end
    end
  end
  return entries
end

return observers
