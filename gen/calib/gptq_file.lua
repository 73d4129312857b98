-- gptq.json: what `kiln gptq` did and the grid of every weight it
-- quantized, so that a calibration of the folder it wrote can lock those
-- weight observers to them (TICO's inject_gptq_qparams: load_qparams(scale,
-- zp, lock=True)) instead of recomputing them from the weights' min/max,
-- which after GPTQ need not reach the grid's ends.
--
-- Layout (keys in this order):
--   format "kiln-gptq", version 1
--   model      { file, sha256, arch, hidden, ..., dtype }: the checkpoint GPTQ read
--   output     { dtype }: the dtype of the weights written beside this file
--   gptq       { the settings of the run }
--   observers  { "<TICO path of a weight observer>": { dtype, qscheme, axis, scale, zero_point } }
-- scale and zero_point are the observer's, as qparams.json holds them (for
-- k_proj, in the attn_scale-folded domain its observer sees).

local json = require "util.json"
local fail = require "util.fail"
local files = require "util.files"
local qparams = require "calib.qparams"
local qparams_file = require "calib.qparams_file"

local gptq_file = {}

gptq_file.FORMAT = "kiln-gptq"
gptq_file.VERSION = 1

-- A value further from its grid than this many steps was not put there by GPTQ.
gptq_file.GRID_TOLERANCE = 1e-3

local MODEL_KEYS = { "arch", "hidden", "intermediate", "heads", "kv_heads", "head_dim", "layers", "vocab" }

-- encode(model_info, output_dtype, settings, results) -> JSON text; model_info
-- { file, sha256, description }, settings an ordered json object, results
-- the algorithm's (calib/algorithms/gptq.lua), in TICO's observer order.
function gptq_file.encode(model_info, output_dtype, settings, results)
  local model = json.object():set("file", model_info.file):set("sha256", model_info.sha256)
  for _, k in ipairs(MODEL_KEYS) do model:set(k, model_info.description[k]) end
  model:set("dtype", model_info.description.dtype)
  local obs = json.object()
  for _, r in ipairs(results) do
    local e = r.entry
    obs:set(e.path, json.object():set("dtype", e.dtype):set("qscheme", e.qscheme):set("axis", e.axis or json.null)
      :set("scale", r.scale):set("zero_point", r.zero_point))
  end
  return json.encode(json.object()
    :set("format", gptq_file.FORMAT)
    :set("version", gptq_file.VERSION)
    :set("model", model)
    :set("output", json.object():set("dtype", output_dtype))
    :set("gptq", settings)
    :set("observers", obs))
end

local function read_doc(path, desc)
  local doc, err = json.decode(files.read(path))
  if type(doc) ~= "table" then fail.raise(path, "json", tostring(err or "not a JSON object")) end
  if doc.format ~= gptq_file.FORMAT then
    fail.raise(path, "format", string.format("expected \"%s\", got %s", gptq_file.FORMAT, tostring(doc.format)))
  end
  if doc.version ~= gptq_file.VERSION then fail.raise(path, "version", "unsupported version " .. tostring(doc.version)) end
  if type(doc.model) ~= "table" then fail.raise(path, "model", "missing") end
  for _, k in ipairs(MODEL_KEYS) do
    if doc.model[k] ~= desc[k] then
      fail.raise(path, "model." .. k, string.format("%s in the file, but %s in the model", tostring(doc.model[k]), tostring(desc[k])))
    end
  end
  if type(doc.observers) ~= "table" or next(doc.observers) == nil then fail.raise(path, "observers", "missing or empty") end
  return doc
end

-- The grid of one observer of the file, checked against the entry it locks.
local function grid_of(path, name, o, e, rows)
  if type(o) ~= "table" then fail.raise(path, name, "not an object") end
  if o.dtype ~= e.dtype or o.qscheme ~= e.qscheme then
    fail.raise(path, name, string.format("%s %s in the file, but this calibration makes it %s %s (give kiln gptq's "
      .. "--preset and --overrides)", tostring(o.dtype), tostring(o.qscheme), e.dtype, e.qscheme))
  end
  local dt, symmetric = qparams.DTYPES[e.dtype], qparams.QSCHEMES[e.qscheme].symmetric
  local axis_ok = (e.axis and o.axis == e.axis) or (not e.axis and (o.axis == nil or o.axis == json.decoded_null))
  if not axis_ok then
    fail.raise(path, name, "axis " .. tostring(o.axis) .. ", expected " .. (e.axis and tostring(e.axis) or "null"))
  end
  if not e.axis then
    return qparams_file.check_value(path, name, "scale", o.scale, dt, symmetric),
      qparams_file.check_value(path, name, "zero_point", o.zero_point, dt, symmetric)
  end
  local grid = {}
  for _, field in ipairs({ "scale", "zero_point" }) do
    local list = o[field]
    if type(list) ~= "table" or #list ~= rows then
      fail.raise(path, name, string.format("%s must be an array of %d (one per output row)", field, rows))
    end
    local values = {}
    for c, v in ipairs(list) do values[c] = qparams_file.check_value(path, name .. " channel " .. (c - 1), field, v, dt, symmetric) end
    grid[field] = values
  end
  return grid.scale, grid.zero_point
end

-- lock(native, path, entries, model) -> how many observers it locked, in
-- entries calibrate.run has filled: every
-- weight observer gptq.json names takes its scale and zero point, once
-- checked: a Linear weight of this model, the dtype and qscheme this
-- calibration resolves, and the model's weight on that grid (the folder
-- kiln gptq wrote, not another). A locked entry keeps its grid through
-- calibrate.compute.
function gptq_file.lock(native, path, entries, model)
  local doc = read_doc(path, model.desc)
  local by_path = {}
  for _, e in ipairs(entries) do by_path[e.path] = e end
  local names = {}
  for name in pairs(doc.observers) do names[#names + 1] = tostring(name) end
  table.sort(names)
  for _, name in ipairs(names) do
    local e = by_path[name]
    if not e or e.role ~= "linear" then fail.raise(path, name, "is not a Linear weight observer of this model") end
    local w = e.graph == "head" and model.head_weights[e.param.name] or model.weights[e.layer + 1][e.param.name]
    local rows = e.axis and #e.min or 1 -- entries come calibrated: per-channel ones have a range per row
    local scale, zp = grid_of(path, name, doc.observers[name], e, rows)
    local dt = qparams.DTYPES[e.dtype]
    local off = native.grid_offset(w, scale, zp, dt.qmin, dt.qmax)
    if not (off <= gptq_file.GRID_TOLERANCE) then
      fail.raise(path, name, string.format("the model's weight is up to %.3g steps off this grid: it is not "
        .. "the weight kiln gptq wrote with this file", off))
    end
    e.scale, e.zero_point, e.locked = scale, zp, path
  end
  return #names
end

return gptq_file
