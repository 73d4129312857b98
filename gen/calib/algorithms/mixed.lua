-- Sensitivity and mixed precision: which observers must stay at int16.
--
-- A unit is an observer family across layers (the path without its
-- "model.layers.N." prefix; a model-level observer is its own family), the
-- tied KV cache observers of one tensor counted as one unit since they share
-- a format. sensitivity() quantizes every unit at the higher precision
-- (activations and norm weights int16 symmetric, as the w8a16 preset) except
-- one at the calibration's own, and measures the fake-quant model's mean KL
-- against float on a few calibration stories: the KL that unit alone adds.
-- select() starts from the calibration's own formats, promotes units to
-- int16 in order of that KL until the measured KL is under the budget (with
-- a margin, MARGIN), then tries to demote each promoted unit again (least
-- sensitive first), so what stays promoted is needed. The ranges come from one calibration; only the
-- grids are recomputed.

local qparams = require "calib.qparams"
local observers = require "calib.observers"
local fq_metrics = require "eval.fq_metrics"

local mixed = {}

mixed.HIGH = { dtype = "int16", qscheme = "per_tensor_symm" }

-- The selection aims below the budget: the KL it measures is on the
-- calibration stories through one prefill, and held-out stories through the
-- decode adapter come out higher (stories260K w8a8, --mixed 0.01: 0.0098 on
-- the calibration stories, 0.0115 by `kiln eval` on stories 200-299).
mixed.MARGIN = 0.8

-- The family of an entry, or nil when promoting it is not a choice (Linear
-- and embedding weights keep their grids). Tied KV observers are one family.
local function family_of(e)
  if e.role == "linear" or e.role == "embedding" then return nil end
  local family = e.path:gsub("^model%.layers%.%d+%.", "")
  for _, group in ipairs(observers.KV_GROUPS) do
    for _, name in ipairs(group) do
      if family == name and e.tied then return group[1] end
    end
  end
  return family
end

-- The pairs of families that observe the same data: a graph's quant node
-- re-observing another observer's result (the attention's copies of the
-- tables, each Linear's act_in), and a model-level observer with its layer
-- twin. Promoting one without the other would leave the other's 8-bit
-- rounding on the same values, so they are one unit.
local function same_data()
  local layer_graph = require "graph.llama_layer"
  local model_graph = require "graph.llama_model"
  local producer, out = {}, {}
  for _, nd in ipairs(layer_graph.nodes) do
    if nd.obs and nd.op == "quant" and producer[nd.ins[1]] then out[#out + 1] = { nd.obs, producer[nd.ins[1]] } end
    if nd.obs then producer[nd.out] = nd.obs end
  end
  for _, o in ipairs(model_graph.observers()) do
    if o.node.calib_from then out[#out + 1] = { o.name, o.node.calib_from } end
  end
  return out
end

-- unit_map(entries, together) -> { [family] = unit name }: families joined
-- when they observe the same data, or a pair of together ({ { a, b } }:
-- observers sharing one grid) names both, so a shared grid is promoted
-- whole; a unit is named by its first family in the entries' order.
local function unit_map(entries, together)
  local joined = same_data()
  for _, pair in ipairs(together or {}) do joined[#joined + 1] = pair end
  together = joined
  local parent, order = {}, {}
  for _, e in ipairs(entries) do
    local f = family_of(e)
    if f and not parent[f] then
      parent[f] = f
      order[#order + 1] = f
    end
  end
  local function root(f)
    while parent[f] ~= f do f = parent[f] end
    return f
  end
  local rank = {}
  for i, f in ipairs(order) do rank[f] = i end
  for _, pair in ipairs(together or {}) do
    local a, b = parent[pair[1]] and root(pair[1]), parent[pair[2]] and root(pair[2])
    if a and b and a ~= b then
      if rank[a] < rank[b] then parent[b] = a else parent[a] = b end
    end
  end
  local map = {}
  for _, f in ipairs(order) do map[f] = root(f) end
  return map
end

local function unit_of(e, map)
  local f = family_of(e)
  return f and map[f]
end

-- units(entries [, together]) -> { { name, paths } } in the entries' order.
function mixed.units(entries, together)
  local map = unit_map(entries, together)
  local by_name, list = {}, {}
  for _, e in ipairs(entries) do
    local u = unit_of(e, map)
    if u then
      if not by_name[u] then
        by_name[u] = { name = u, paths = {} }
        list[#list + 1] = by_name[u]
      end
      table.insert(by_name[u].paths, e.path)
    end
  end
  return list
end

local function copy_entries(entries)
  local out = {}
  for i, e in ipairs(entries) do
    local c = {}
    for k, v in pairs(e) do c[k] = v end
    out[i] = c
  end
  return out
end

-- variant(entries, high, finish [, together]) -> a copy of the calibrated
-- entries with the units in high (a set of unit names) on int16 grids,
-- finished by finish(entries) (scale and zero point, shared grids).
function mixed.variant(entries, high, finish, together)
  local map = unit_map(entries, together)
  local out = copy_entries(entries)
  for _, e in ipairs(out) do
    local u = unit_of(e, map)
    if u and high[u] and qparams.DTYPES[e.dtype].bits < 16 then
      e.dtype, e.qscheme = mixed.HIGH.dtype, mixed.HIGH.qscheme
    end
  end
  finish(out)
  return out
end

-- sensitivity(native, model, entries, ref, finish, together) -> { high = KL with every
-- unit high, low = KL as calibrated, units = { { name, paths, kl, delta } }
-- sorted by delta, largest first }
function mixed.sensitivity(native, model, entries, ref, finish, together, bar)
  local units = mixed.units(entries, together)
  local all = {}
  for _, u in ipairs(units) do all[u.name] = true end
  local function kl(high)
    local v = mixed.variant(entries, high, finish, together)
    return fq_metrics.measure(native, model, fq_metrics.as_qparams(v), ref).kl_mean
  end
  local result = { high = kl(all), low = kl({}), units = {} }
  for _, u in ipairs(units) do
    local high = {}
    for name in pairs(all) do high[name] = name ~= u.name end
    local k = kl(high)
    result.units[#result.units + 1] = { name = u.name, paths = u.paths, kl = k, delta = k - result.high }
    if bar then bar:step() end
  end
  table.sort(result.units, function(a, b)
    if a.delta ~= b.delta then return a.delta > b.delta end
    return a.name < b.name
  end)
  return result
end

-- select(native, model, entries, ref, finish, together, budget, sens) -> { promoted =
-- { unit names, most sensitive first }, kl, entries } with the measured KL
-- at most MARGIN * budget when it can be reached (every unit high otherwise).
function mixed.select(native, model, entries, ref, finish, together, budget, sens)
  budget = budget * mixed.MARGIN
  local function measure(high)
    local v = mixed.variant(entries, high, finish, together)
    return fq_metrics.measure(native, model, fq_metrics.as_qparams(v), ref).kl_mean, v
  end
  local high, order = {}, {}
  local kl, variant = measure(high)
  for _, u in ipairs(sens.units) do
    if kl <= budget then break end
    high[u.name] = true
    order[#order + 1] = u.name
    kl, variant = measure(high)
  end
  -- the least sensitive first: a unit the budget does not need goes back
  for i = #order, 1, -1 do
    local name = order[i]
    high[name] = nil
    local k, v = measure(high)
    if k <= budget then
      kl, variant = k, v
      table.remove(order, i)
    else
      high[name] = true
    end
  end
  return { promoted = order, kl = kl, entries = variant }
end

return mixed
