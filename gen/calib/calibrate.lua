-- Post-training calibration, as TICO's full-model flow does it
-- (tico-semantics.md §5.1): for each sample, a float prefill of the story's
-- tokens, then greedy decode steps that reuse the float KV cache. Every
-- activation observer of the layer graph records min/max (the native
-- executor runs the graph and widens the ranges); weight observers are taken
-- from the weights themselves. Then scale and zero point per observer (§2.3).

local fail = require "util.fail"
local program = require "graph.program"
local qparams = require "calib.qparams"
local observers = require "calib.observers"

local calibrate = {}

-- Runs the float model over the samples with observers on: a prefill whose
-- head runs on every row (all positions' logits, as TICO's full model), then
-- greedy decode steps. Returns the native ranges ({ layers, head }) and the
-- number of prefill and decode tokens seen.
function calibrate.collect(native, model, token_lists, decode_steps, bar)
  local m = model.native
  local max_seq, vocab = model.desc.max_seq, model.desc.vocab
  local prefill_tokens, decode_tokens = 0, 0
  m:observe(true)
  for _, ids in ipairs(token_lists) do
    local last = m:forward(ids, 0, true):slice((#ids - 1) * vocab, vocab)
    prefill_tokens = prefill_tokens + #ids
    local pos = #ids
    for _ = 1, decode_steps do
      if pos >= max_seq then break end
      last = m:forward({ native.argmax(last) }, pos, false)
      pos = pos + 1
      decode_tokens = decode_tokens + 1
    end
    if bar then bar:step() end
  end
  local ranges = m:ranges()
  m:observe(false)
  return ranges, prefill_tokens, decode_tokens
end

local function param_rows(param, desc)
  local first = param.shape:match("^(%S+)")
  return program.numel(first, { D = desc.hidden, H = desc.heads, Hk = desc.kv_heads, d = desc.head_dim,
    I = desc.intermediate, V = desc.vocab })
end

-- Fills entry.min / entry.max for every observer: activations from the
-- collected ranges, weights from the weights (per row when per-channel).
-- A model-level activation observer takes the range of the layer-0
-- observer it shares its data with (graph/llama_model.lua's calib_from).
function calibrate.attach_ranges(entries, ranges, model)
  local by_path = {}
  for _, e in ipairs(entries) do by_path[e.path] = e end
  for _, e in ipairs(entries) do
    if e.param then
      local w
      if e.graph == "model" then
        w = model.embedding
      elseif e.graph == "head" then
        w = model.head_weights[e.param.name]
      else
        w = model.weights[e.layer + 1][e.param.name]
      end
      if e.axis then
        e.min, e.max = w:row_minmax(param_rows(e.param, model.desc))
      else
        e.min, e.max = w:minmax()
      end
    else
      local r
      if e.graph == "model" then
        local twin = by_path["model.layers.0." .. e.calib_from]
        r = ranges.layers[1][twin.index + 1]
      elseif e.graph == "head" then
        r = ranges.head[e.index + 1]
      else
        r = ranges.layers[e.layer + 1][e.index + 1]
      end
      e.min, e.max = r.min, r.max
    end
  end
end

-- Ties the KV cache observers of each layer to one range: the union of what
-- each of them saw (an observer that saw nothing adds nothing).
function calibrate.tie_kv(entries)
  local by_path = {}
  for _, e in ipairs(entries) do by_path[e.path] = e end
  local layers = {}
  for _, e in ipairs(entries) do
    if e.graph == "layer" then layers[e.layer] = true end
  end
  for l in pairs(layers) do
    local prefix = string.format("model.layers.%d.", l)
    for _, group in ipairs(observers.KV_GROUPS) do
      local members = {}
      for k, name in ipairs(group) do members[k] = by_path[prefix .. name] end
      local lo, hi = math.huge, -math.huge
      for _, e in ipairs(members) do
        if e.dtype ~= members[1].dtype or e.qscheme ~= members[1].qscheme then
          fail.raise(nil, e.path, string.format(
            "tied KV cache observers need one format, but %s is %s %s and %s is %s %s (use --untied-kv)",
            members[1].path, members[1].dtype, members[1].qscheme, e.path, e.dtype, e.qscheme))
        end
        lo, hi = math.min(lo, e.min), math.max(hi, e.max)
      end
      for _, e in ipairs(members) do
        e.min, e.max = lo, hi
        e.tied = group[1]
      end
    end
  end
end

local function finite(x)
  return x == x and x ~= math.huge and x ~= -math.huge
end

-- Computes scale and zero point of every entry; an observer that never saw
-- data or saw a non-finite value is an error, not a file.
function calibrate.compute(entries)
  for _, e in ipairs(entries) do
    local mins = type(e.min) == "table" and e.min or { e.min }
    local maxs = type(e.max) == "table" and e.max or { e.max }
    for c = 1, #mins do
      if mins[c] == math.huge and maxs[c] == -math.huge then
        fail.raise(nil, e.path, "never observed during calibration (decode-only observers need --decode-steps > 0, or a tied KV cache)")
      end
      if not finite(mins[c]) or not finite(maxs[c]) then
        fail.raise(nil, e.path, string.format("non-finite range [%s, %s]%s", tostring(mins[c]), tostring(maxs[c]),
          #mins > 1 and (" in channel " .. (c - 1)) or ""))
      end
    end
    local scale, zp = qparams.compute(e.dtype, e.qscheme, e.min, e.max)
    if not scale then fail.raise(nil, e.path, zp) end
    local scales = type(scale) == "table" and scale or { scale }
    for c = 1, #scales do
      if not (finite(scales[c]) and scales[c] > 0) then
        fail.raise(nil, e.path, "scale " .. tostring(scales[c]) .. " is not finite and positive")
      end
    end
    e.scale, e.zero_point = scale, zp
  end
end

return calibrate
