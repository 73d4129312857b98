-- The statistics an activation observer keeps while the float model runs
-- (TICO's observers, tico-semantics.md §2.2):
--   minmax      the running minimum and maximum;
--   ema         the minimum and maximum of each forward, folded into a moving
--               average (momentum 0.9; the first forward initialises it);
--   percentile  a bounded reservoir sample (at most 4,096 values a call,
--               131,072 kept, seed 0), clipped to its central percentile %
--               (of |x| for a symmetric qscheme), 0 always inside.
-- The native model keeps all of them at once (runtime/float/reservoir.c and
-- model.c); this module says which it needs and picks, per observer, the
-- range its statistic gives.

local qparams = require "calib.qparams"

local statistics = {}

statistics.EMA_MOMENTUM = 0.9
statistics.MAX_SAMPLES = 131072
statistics.SAMPLES_PER_BATCH = 4096
statistics.SEED = 0
statistics.DEFAULT_PERCENTILE = 99.99 -- TICO's PercentileObserver default

-- The executor's index of an observer in its block: the layers' observers
-- layer by layer, then the head's.
local function block_index(e, observers_per_layer, layers)
  if e.graph == "head" then return layers * observers_per_layer + e.index end
  return e.layer * observers_per_layer + e.index
end

-- Whether an entry keeps a statistic of its own other than min/max. A
-- model-level observer takes its layer-0 twin's range, statistic included
-- (calibrate.attach_ranges; graph/llama_model.lua's calib_from).
local function special(e)
  return not e.param and e.graph ~= "model" and e.statistic and e.statistic.kind ~= "minmax"
end

-- plan(entries, model) -> what the native model must record: nil when every
-- observer is min/max, else m:observe's table ({ ema, sample, ... }).
function statistics.plan(entries, model)
  local per_layer, layers = #model.observers, model.desc.layers
  local ema, sample = false, nil
  for _, e in ipairs(entries) do
    if special(e) then
      if e.statistic.kind == "ema" then ema = true end
      if e.statistic.kind == "percentile" then
        sample = sample or {}
        sample[block_index(e, per_layer, layers) + 1] = true
      end
    end
  end
  if not ema and not sample then return nil end
  return {
    ema = ema and statistics.EMA_MOMENTUM or nil, sample = sample, max_samples = statistics.MAX_SAMPLES,
    samples_per_batch = statistics.SAMPLES_PER_BATCH, seed = statistics.SEED,
  }
end

-- pick(m, ranges, entries, model) -> ranges in m:ranges()'s layout where each
-- observer's { min, max } is what its entry's statistic gives. Call while m
-- still observes.
function statistics.pick(m, ranges, entries, model)
  local per_layer, layers = #model.observers, model.desc.layers
  local out = { layers = {}, head = {} }
  for l, list in ipairs(ranges.layers) do
    out.layers[l] = {}
    for i, r in ipairs(list) do out.layers[l][i] = { min = r.min, max = r.max } end
  end
  for i, r in ipairs(ranges.head) do out.head[i] = { min = r.min, max = r.max } end
  for _, e in ipairs(entries) do
    if special(e) then
      local slot = e.graph == "head" and out.head[e.index + 1] or out.layers[e.layer + 1][e.index + 1]
      local raw = e.graph == "head" and ranges.head[e.index + 1] or ranges.layers[e.layer + 1][e.index + 1]
      if e.statistic.kind == "ema" then
        slot.min, slot.max = raw.ema_min, raw.ema_max
      else
        local symmetric = qparams.QSCHEMES[e.qscheme].symmetric
        local lo, hi = m:clip_range(block_index(e, per_layer, layers), e.statistic.percentile, symmetric)
        if lo then slot.min, slot.max = lo, hi end
      end
    end
  end
  return out
end

-- describe(statistic) -> the calibration settings that record the
-- activations' default statistic in qparams.json, as ordered { key, value }.
function statistics.describe(default)
  local d = { { "observer", default.kind } }
  if default.kind == "ema" then d[#d + 1] = { "ema_momentum", statistics.EMA_MOMENTUM } end
  if default.kind == "percentile" then
    d[#d + 1] = { "percentile", default.percentile or statistics.DEFAULT_PERCENTILE }
    d[#d + 1] = { "max_samples", statistics.MAX_SAMPLES }
    d[#d + 1] = { "samples_per_batch", statistics.SAMPLES_PER_BATCH }
    d[#d + 1] = { "seed", statistics.SEED }
  end
  return d
end

return statistics
