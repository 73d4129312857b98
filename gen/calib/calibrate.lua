-- Post-training calibration, as TICO's full-model flow does it
-- (tico-semantics.md §5.1): for each sample, a float prefill of the story's
-- tokens, then greedy decode steps that reuse the float KV cache. Every
-- activation observer of the layer graph records min/max (the native
-- executor runs the graph and widens the ranges); weight observers are taken
-- from the weights themselves. Then scale and zero point per observer (§2.3).

local fail = require "util.fail"
local program = require "graph.program"
local float_model = require "model.float_model"
local qparams = require "calib.qparams"
local observers = require "calib.observers"
local statistics = require "calib.statistics"

local calibrate = {}

-- Up to steps greedy decode steps of model m from position pos, the first
-- on the argmax of logits last; returns how many ran (the cache ends at max_seq).
local function greedy_steps(native, m, last, pos, steps, max_seq)
  local done = 0
  while done < steps and pos < max_seq do
    last = m:forward({ native.argmax(last) }, pos, false)
    pos, done = pos + 1, done + 1
  end
  return done
end

-- Runs the float model over the samples with observers on: a prefill whose
-- head runs on every row (all positions' logits, as TICO's full model), then
-- greedy decode steps. Returns the ranges ({ layers, head }, each observer's
-- as its entry's statistic gives it) and the number of prefill and decode
-- tokens seen.
function calibrate.collect(native, model, entries, token_lists, decode_steps, bar)
  local m = model.native
  local max_seq, vocab = model.desc.max_seq, model.desc.vocab
  local prefill_tokens, decode_tokens = 0, 0
  m:observe(true, statistics.plan(entries, model))
  for _, ids in ipairs(token_lists) do
    local last = m:forward(ids, 0, true):slice((#ids - 1) * vocab, vocab)
    prefill_tokens = prefill_tokens + #ids
    decode_tokens = decode_tokens + greedy_steps(native, m, last, #ids, decode_steps, max_seq)
    if bar then bar:step() end
  end
  local ranges = statistics.pick(m, m:ranges(), entries, model)
  m:observe(false)
  return ranges, prefill_tokens, decode_tokens
end

-- The decode steps after a quantized prefill (--decode-source quantized):
-- fq, the same model in TICO's QUANT mode with the first pass's qparams
-- (float_model.with_fake_quant), prefills each sample; its KV cache (on the
-- cache grids) and its greedy token seed the float model's decode steps,
-- whose observers record. Returns the ranges and the decode tokens seen.
function calibrate.collect_decode_after(native, model, entries, fq, token_lists, decode_steps, bar)
  local m = model.native
  local max_seq, layers = model.desc.max_seq, model.desc.layers
  local decode_tokens = 0
  m:observe(true, statistics.plan(entries, model))
  for _, ids in ipairs(token_lists) do
    local last = fq:forward(ids, 0, false)
    for l = 0, layers - 1 do
      local k, v = fq:cache(l, 0, #ids)
      m:set_cache(l, 0, k, v)
    end
    decode_tokens = decode_tokens + greedy_steps(native, m, last, #ids, decode_steps, max_seq)
    if bar then bar:step() end
  end
  local ranges = statistics.pick(m, m:ranges(), entries, model)
  m:observe(false)
  return ranges, decode_tokens
end

-- The union of two sets of ranges (m:ranges()): what either pass saw.
function calibrate.union(a, b)
  local function merge(x, y)
    local out = {}
    for i, r in ipairs(x) do
      out[i] = { min = math.min(r.min, y[i].min), max = math.max(r.max, y[i].max) }
    end
    return out
  end
  local layers = {}
  for l, list in ipairs(a.layers) do layers[l] = merge(list, b.layers[l]) end
  return { layers = layers, head = merge(a.head, b.head) }
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

-- The decode-only observers without a range of their own after a
-- prefill-only calibration (--decode-source none, or the first pass of
-- quantized): an untied past_key / past_value takes the range of
-- present_key / present_value, the tensor the cache holds between steps.
-- Returns the paths it filled.
function calibrate.past_from_present(entries)
  local by_path, filled = {}, {}
  for _, e in ipairs(entries) do by_path[e.path] = e end
  for _, e in ipairs(entries) do
    local present = e.path:gsub("%.past_key$", ".present_key"):gsub("%.past_value$", ".present_value")
    if present ~= e.path and e.min == math.huge and by_path[present] then
      e.min, e.max = by_path[present].min, by_path[present].max
      filled[#filled + 1] = e.path
    end
  end
  return filled
end

local function finite(x)
  return x == x and x ~= math.huge and x ~= -math.huge
end

-- Computes scale and zero point of every entry but a locked one (a grid
-- given from outside: kiln gptq's); an observer that never saw data or saw a
-- non-finite value is an error, not a file.
function calibrate.compute(entries)
  for _, e in ipairs(entries) do
    if not e.locked then calibrate.compute_one(e) end
  end
end

-- Scale and zero point of one entry from its range.
function calibrate.compute_one(e)
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

-- Where the decode steps' inputs come from (kiln calib --decode-source):
--   float      TICO's way: decode steps after each float prefill, one pass;
--   quantized  two passes: the prefill observers from float prefills; then
--              each sample prefilled in TICO's QUANT mode (fake quantization
--              in float32, the semantics the integer C follows) on those
--              qparams, and the decode steps observed after it;
--   none       prefill statistics only.
calibrate.DECODE_SOURCES = { "float", "quantized", "none" }
calibrate.RECORDED_SOURCE = { float = "float_prefill", quantized = "quantized_prefill", none = "none" }

-- The qparams a set of computed entries stands for, as float_model reads them.
local function as_qparams(entries)
  local obs = {}
  for _, e in ipairs(entries) do
    obs[e.path] = { dtype = e.dtype, qscheme = e.qscheme, scale = e.scale, zero_point = e.zero_point, axis = e.axis }
  end
  return { observers = obs }
end

-- Fills the entries' ranges, computes scales and zero points, and returns
-- what it did: { prefill_tokens, decode_tokens, past_from_present = paths }.
-- new_entries() gives a fresh set of the same entries (the quantized
-- source's first pass computes its own); untied keeps TICO's independent
-- KV observers.
function calibrate.run(native, model, entries, new_entries, token_lists, o, bar)
  local ranges, prefill_tokens, decode_tokens
  if o.decode_source == "float" then
    ranges, prefill_tokens, decode_tokens = calibrate.collect(native, model, entries, token_lists, o.decode_steps, bar)
  else
    ranges, prefill_tokens, decode_tokens = calibrate.collect(native, model, entries, token_lists, 0, bar)
    if o.decode_source == "quantized" and o.decode_steps > 0 then
      local first = new_entries()
      calibrate.attach_ranges(first, ranges, model)
      if not o.untied then calibrate.tie_kv(first) end
      calibrate.past_from_present(first)
      calibrate.compute(first)
      local fq = float_model.with_fake_quant(native, model, as_qparams(first))
      local decode_ranges
      decode_ranges, decode_tokens = calibrate.collect_decode_after(native, model, entries, fq, token_lists, o.decode_steps, bar)
      ranges = calibrate.union(ranges, decode_ranges)
    end
  end
  calibrate.attach_ranges(entries, ranges, model)
  if not o.untied then calibrate.tie_kv(entries) end
  -- only a prefill-only calibration by choice fills them; otherwise an
  -- observer that saw nothing is an error (compute says so)
  local filled = o.decode_source == "none" and calibrate.past_from_present(entries) or {}
  calibrate.compute(entries)
  return { prefill_tokens = prefill_tokens, decode_tokens = decode_tokens, past_from_present = filled }
end

return calibrate
