-- Shared grids: an observer whose op only moves data takes its input's grid.
--
-- take_half and concat_halves (RoPE's split and rotate, sign carried by the
-- sin table) copy values; add_mask adds 0 to every position a row may see
-- and -120 to the rest. On its own range each of them requantizes: one
-- more rounding of every value on a grid that does not line up with the one
-- before. On the input's grid the copy is exact, and the masked positions
-- saturate at the grid's lowest value, far below any row's maximum, where
-- softmax gives them no weight. TFLite requires the same of its concat and
-- reshape for the same reason. Measured on stories260K w8a8 (percentile
-- observers, fake-quant model on held-out stories): mean KL 0.040 -> 0.030.
--
-- The masked positions' weight is only nil if their saturated value is far
-- below every row's maximum: the integer attention skips them, the
-- fake-quant reference gives them exp(grid minimum - row maximum). So
-- add_mask shares the logits' grid only when its lowest value is at most
-- MASK_FLOOR (exp(-64) ~ 1.6e-28: nothing in float32); otherwise it keeps
-- its own range, which spans the -120 of the mask itself.
--
-- The KV cache observers are left to the cache's own tying
-- (calibrate.tie_kv), and a pair is only shared when both have one dtype
-- and qscheme.

local layer_graph = require "graph.llama_layer"
local qparams = require "calib.qparams"

local shared_grids = {}

shared_grids.OPS = { take_half = true, concat_halves = true, add_mask = true }
shared_grids.MASK_FLOOR = -64

-- pairs() -> { { observer, from } } in graph order, relative to a layer:
-- each data-moving observer and the observer of its first input's node.
function shared_grids.pairs()
  local producer = {}
  local out = {}
  for _, nd in ipairs(layer_graph.nodes) do
    if nd.obs and shared_grids.OPS[nd.op] and producer[nd.ins[1]] then
      out[#out + 1] = { observer = nd.obs, from = producer[nd.ins[1]], op = nd.op }
    end
    if nd.obs then producer[nd.out] = nd.obs end
  end
  return out
end

-- The lowest value a per-tensor grid holds.
local function lowest(e)
  return (qparams.DTYPES[e.dtype].qmin - e.zero_point) * e.scale
end

-- apply(entries) -> the paths it changed. Each pair's observer takes the
-- scale, zero point and range of its source (after the source's own
-- sharing, as the pairs come in graph order) and records where from.
function shared_grids.apply(entries)
  local by_path = {}
  for _, e in ipairs(entries) do by_path[e.path] = e end
  local changed = {}
  local layers, seen = {}, {}
  for _, e in ipairs(entries) do
    if e.graph == "layer" and not seen[e.layer] then
      seen[e.layer] = true
      layers[#layers + 1] = e.layer
    end
  end
  table.sort(layers)
  local pairs_ = shared_grids.pairs()
  for _, l in ipairs(layers) do
    local prefix = string.format("model.layers.%d.", l)
    for _, p in ipairs(pairs_) do
      local e, src = by_path[prefix .. p.observer], by_path[prefix .. p.from]
      local safe = p.op ~= "add_mask" or lowest(src) <= shared_grids.MASK_FLOOR
      if e and src and e.dtype == src.dtype and e.qscheme == src.qscheme and not e.tied and safe then
        e.scale, e.zero_point, e.min, e.max = src.scale, src.zero_point, src.min, src.max
        e.grid_from = src.path
        changed[#changed + 1] = e.path
      end
    end
  end
  return changed
end

return shared_grids
