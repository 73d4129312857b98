-- What the ablation charts plot, gathered from results.runs: per preset and
-- source, a value's mean, min and max over the repeats. Runs are visited in
-- their array order, so the sums (and so the bytes of the report) are
-- always the same.

local repeats = {}

-- spread(values) -> { mean, min, max }, or nil for no values.
function repeats.spread(values)
  if #values == 0 then return nil end
  local sum, lo, hi = 0.0, math.huge, -math.huge
  for _, v in ipairs(values) do
    sum, lo, hi = sum + v, math.min(lo, v), math.max(hi, v)
  end
  return { mean = sum / #values, min = lo, max = hi }
end

-- runs(results, preset, source) -> that preset's and source's runs, in order.
function repeats.runs(results, preset, source)
  local out = {}
  for _, r in ipairs(results.runs) do
    if r.preset == preset and r.source == source then out[#out + 1] = r end
  end
  return out
end

-- first(runs): the first repeat (repeat_index 1), else the first run listed.
function repeats.first(runs)
  for _, r in ipairs(runs) do
    if r.repeat_index == 1 then return r end
  end
  return runs[1]
end

-- distinct(entries, field) -> the values of entries[*][field], each once,
-- in the order they first appear.
function repeats.distinct(entries, field, out, seen)
  out, seen = out or {}, seen or {}
  for _, e in ipairs(entries) do
    local v = e[field]
    if not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  return out, seen
end

-- layer_numbers(runs) -> the layers any run measured, ascending.
function repeats.layer_numbers(runs)
  local out, seen = {}, {}
  for _, run in ipairs(runs) do repeats.distinct(run.layers or {}, "layer", out, seen) end
  table.sort(out)
  return out
end

-- layer_values(runs, adapter, tensor, field, layers, scale) -> the spread of
-- run.layers[*][tensor][field] * scale over the runs, one per layer of
-- `layers` (nil where no run has it).
function repeats.layer_values(runs, adapter, tensor, field, layers, scale)
  local out = {}
  for i, l in ipairs(layers) do
    local values = {}
    for _, run in ipairs(runs) do
      for _, e in ipairs(run.layers or {}) do
        if e.layer == l and e.adapter == adapter and e[tensor] and e[tensor][field] then
          values[#values + 1] = e[tensor][field] * (scale or 1)
        end
      end
    end
    out[i] = repeats.spread(values)
  end
  return out
end

-- model_values(runs, phase, metric) -> the spread of run[phase][metric] over the runs.
function repeats.model_values(runs, phase, metric)
  local values = {}
  for _, run in ipairs(runs) do
    local m = run[phase]
    if m and m[metric] then values[#values + 1] = m[metric] end
  end
  return repeats.spread(values)
end

return repeats
