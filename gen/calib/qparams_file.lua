-- qparams.json: the calibrated quantization parameters of every observer.
--
-- Layout (all keys always present, in this order):
--   format "kiln-qparams", version 1
--   model       { file, sha256, arch, hidden, intermediate, heads, kv_heads, head_dim, layers, vocab }
--   calibration { how the ranges were collected }
--   observers   { "<TICO path>": { dtype, qscheme, axis, scale, zero_point, min, max [, tied] } }
-- Per-tensor observers have numbers for scale/zero_point/min/max and axis
-- null; per-channel ones have arrays (one entry per output row) and axis 0.
-- Observers come in graph order, layer by layer, so a recalibration reads as
-- a small diff.

local json = require "util.json"

local qparams_file = {}

qparams_file.FORMAT = "kiln-qparams"
qparams_file.VERSION = 1

local MODEL_KEYS = { "arch", "hidden", "intermediate", "heads", "kv_heads", "head_dim", "layers", "vocab" }

-- encode(model_info, calibration, entries) -> JSON text.
-- model_info: { file, sha256, description }; calibration: ordered json object.
function qparams_file.encode(model_info, calibration, entries)
  local model = json.object():set("file", model_info.file):set("sha256", model_info.sha256)
  for _, k in ipairs(MODEL_KEYS) do model:set(k, model_info.description[k]) end

  local obs = json.object()
  for _, e in ipairs(entries) do
    local o = json.object()
      :set("dtype", e.dtype)
      :set("qscheme", e.qscheme)
      :set("axis", e.axis or json.null)
      :set("scale", e.scale)
      :set("zero_point", e.zero_point)
      :set("min", e.min)
      :set("max", e.max)
    if e.tied then o:set("tied", e.tied) end
    obs:set(e.path, o)
  end

  local doc = json.object()
    :set("format", qparams_file.FORMAT)
    :set("version", qparams_file.VERSION)
    :set("model", model)
    :set("calibration", calibration)
    :set("observers", obs)
  return json.encode(doc)
end

return qparams_file
