-- GPTQ (Frantar et al., 2022) over a Llama, the way TICO's GPTQQuantizer
-- runs it (tico/quantization/algorithm/gptq/quantizer.py): decoder layers in
-- order; for each, every Linear's Hessian from its inputs over all samples
-- (the layer's own weights still float, its inputs those of the model whose
-- earlier layers are already quantized, so their error is compensated
-- downstream); then each Linear quantized column by column with error
-- feedback (gptq.c); then the quantized layer run again to give the next
-- layer its inputs.
--
-- The grids are TICO's observers' (calib/qparams.lua on each row's min/max
-- of the weight as the checkpoint holds it), computed once, before the error
-- feedback moves the weights, and kept: that is the qparams the weight
-- observers are later locked to. k_proj's observer sees the weight times
-- TICO's attn_scale (k_proj scale fusion), so its locked scale is the grid's
-- times that factor, as TICO's inject_gptq_qparams folds it.

local fail = require "util.fail"
local f32 = require "util.f32"
local qparams = require "calib.qparams"
local program = require "graph.program"
local float_model = require "model.float_model"

local gptq = {}

gptq.DEFAULTS = { block = 128, damp = 0.01, act_order = false }

local function dims_of(desc)
  return { D = desc.hidden, H = desc.heads, Hk = desc.kv_heads, d = desc.head_dim, I = desc.intermediate, V = desc.vocab }
end

-- rows, cols of a weight observer's parameter [out, in].
local function shape_of(entry, desc)
  local out, into = entry.param.shape:match("^(%S+)%s+(%S+)$")
  local dims = dims_of(desc)
  return program.numel(out, dims), program.numel(into, dims)
end

-- GPTQ's MSE grid search (TICO's quant.py, mse = "mse"): each row's range
-- shrunk by p = 1 - i / GRID for i < MAXSHRINK * GRID, the one whose grid
-- gives the least sum |FQ(w) - w|^NORM kept.
gptq.MSE = { grid = 100, maxshrink = 0.8, norm = 2.4 }

local function scaled_range(v, p)
  if type(v) == "number" then return p * v end
  local out = {}
  for i, x in ipairs(v) do out[i] = p * x end
  return out
end

-- The grid of one weight: TICO's scale and zero point from its rows' (or
-- the whole tensor's, per tensor) min/max; with mse, from the shrunk range
-- that quantizes each row best. The grid stays one TICO computes from a
-- range, so the locked qparams read like any others.
function gptq.grid(native, entry, w, rows, mse)
  local mn, mx
  if entry.axis then mn, mx = w:row_minmax(rows) else mn, mx = w:minmax() end
  local scale, zp = qparams.compute(entry.dtype, entry.qscheme, mn, mx)
  if not scale then fail.raise(nil, entry.path, zp) end
  if not mse then return scale, zp end
  local dt = qparams.DTYPES[entry.dtype]
  local best = native.row_error(w, scale, zp, dt.qmin, dt.qmax, gptq.MSE.norm)
  local per_row = type(scale) == "table"
  for i = 1, math.floor(gptq.MSE.maxshrink * gptq.MSE.grid) - 1 do
    local p = 1 - i / gptq.MSE.grid
    local s1, z1 = qparams.compute(entry.dtype, entry.qscheme, scaled_range(mn, p), scaled_range(mx, p))
    if s1 then
      local err = native.row_error(w, s1, z1, dt.qmin, dt.qmax, gptq.MSE.norm)
      for r = 1, #err do
        if err[r] < best[r] then
          best[r] = err[r]
          if per_row then scale[r], zp[r] = s1[r], z1[r] else scale, zp = s1, z1 end
        end
      end
    end
  end
  return scale, zp
end

-- The grid as the observer sees the weight: scale times the graph's prescale.
local function observed_scale(entry, scale, desc)
  if not entry.param.prescale then return scale end
  local a = f32.round(float_model.prescale_factor(entry.param.prescale, desc))
  if type(scale) == "number" then return f32.mul(scale, a) end
  local out = {}
  for r, s in ipairs(scale) do out[r] = f32.mul(s, a) end
  return out
end

-- One Linear: GPTQ of the checkpoint's weight on its grid with Hessian h.
local function quantize_linear(native, model, entry, h, o)
  local desc = model.desc
  local rows, cols = shape_of(entry, desc)
  local w = model.ckpt:load(native, entry.path) -- a weight observer's path is its tensor's name
  local scale, zp = gptq.grid(native, entry, w, rows, o.mse)
  local dt = qparams.DTYPES[entry.dtype]
  local values, codes = native.gptq(h, w, scale, zp, dt.qmin, dt.qmax,
    { block = o.block, damp = o.damp, act_order = o.act_order })
  if not values then fail.raise(nil, entry.path, codes) end
  return {
    entry = entry, values = values, codes = codes, rows = rows, cols = cols, qmin = dt.qmin, qmax = dt.qmax,
    grid_scale = scale, scale = observed_scale(entry, scale, desc), zero_point = zp,
    tensor = entry.path,
  }
end

-- The entries of specs in graph ("layer" or "head") and layer l, and the
-- observer index of each one's input in that graph's trace.
local function specs_of(specs, graph, l, names)
  local index = {}
  for i, name in ipairs(names) do index[name] = i end
  local list = {}
  for _, e in ipairs(specs) do
    if e.graph == graph and e.layer == l then
      local act_in = e.name:gsub("%.weight$", ".act_in")
      list[#list + 1] = { entry = e, input = assert(index[act_in], act_in) }
    end
  end
  return list
end

-- GPTQ of the Linears in list, their Hessians over the traces run(x) gives
-- for every input x; adds each result to by_path and returns the values by
-- param name.
local function quantize_group(native, model, list, inputs, run, o, by_path)
  if #list == 0 then return {} end
  local hessians = {}
  for k, item in ipairs(list) do
    local _, cols = shape_of(item.entry, model.desc)
    hessians[k] = native.hessian(cols)
  end
  for s = 1, #inputs do
    local trace = run(inputs[s])
    for k, item in ipairs(list) do hessians[k]:add(trace[item.input]) end
  end
  local raw = {}
  for k, item in ipairs(list) do
    local r = quantize_linear(native, model, item.entry, hessians[k], o)
    by_path[item.entry.path] = r
    raw[item.entry.param.name] = r.values
  end
  return raw
end

-- run(native, model, token_lists, specs, o [, bar]) -> results, one per spec
-- in specs' order: { entry, tensor (the checkpoint's name), values (float32
-- Tensor [rows][cols], the GPTQ'd weight as the checkpoint holds it),
-- codes (int16 little-endian string), rows, cols, qmin, qmax, grid_scale
-- (the checkpoint's domain), scale and zero_point (the observer's: what it
-- is locked to) }.
-- model: float_model.load's, for prefills as long as the longest sample;
-- specs: Linear weight observers of observers.resolve (gptq.linear_specs);
-- o: { block, damp, act_order }; bar steps once per layer and sample.
function gptq.run(native, model, token_lists, specs, o, bar)
  local desc = model.desc
  local empty = native.tensor({})
  local inputs = {}
  for s, ids in ipairs(token_lists) do
    local _, captured = model.native:forward(ids, 0, false, true)
    inputs[s] = captured:slice(0, #ids * desc.hidden) -- layer 0's input: the embedding rows
  end
  local by_path = {}
  for l = 0, desc.layers - 1 do
    -- every Linear's inputs from the float layer, as TICO takes them (one group, not GPTQ's "true sequential")
    local raw = quantize_group(native, model, specs_of(specs, "layer", l, model.observers), inputs, function(x)
      if bar then bar:step() end
      return select(4, model.native:run_layer(l, x, 0, empty, empty, true))
    end, o, by_path)
    local quantized = float_model.with_layer_weights(native, model, l, raw)
    for s = 1, #inputs do inputs[s] = quantized:run_layer(l, inputs[s], 0, empty, empty) end
    collectgarbage() -- the traces and the last layer's model hold C buffers Lua does not count
  end
  -- lm_head (when asked for) on the final norm of the quantized layers' output
  quantize_group(native, model, specs_of(specs, "head", nil, model.head_observers), inputs, function(x)
    return select(2, model.native:run_head(x, true))
  end, o, by_path)
  local results = {}
  for k, e in ipairs(specs) do results[k] = assert(by_path[e.path], e.path) end
  return results
end

-- The Linear weight observers GPTQ quantizes, among entries: every decoder
-- layer's (q, k, v, o, gate, up, down), and with lm_head the classifier's.
function gptq.linear_specs(entries, lm_head)
  local list = {}
  for _, e in ipairs(entries) do
    if e.role == "linear" and (e.graph == "layer" or (lm_head and e.graph == "head")) then list[#list + 1] = e end
  end
  return list
end

return gptq
