-- qparams.json: the calibrated quantization parameters of every observer.
--
-- Layout (all keys always present, in this order):
--   format "kiln-qparams", version 1
--   model       { file, sha256, arch, hidden, intermediate, heads, kv_heads, head_dim, layers, vocab, dtype }
--   calibration { how the ranges were collected }
--   smoothing   (only when SmoothQuant ran) { algorithm, alpha, layers = [ { <norm>: [ s_j ] } ] }:
--               factors every reader folds into the checkpoint's weights (model/smoothing.lua)
--   observers   { "<TICO path>": { dtype, qscheme, axis, scale, zero_point, min, max [, tied]
--                 [, observer, percentile] } }: observer names an activation's statistic
--                 when it is not min/max (min/max are then the range it gave)
-- Per-tensor observers have numbers for scale/zero_point/min/max and axis
-- null; per-channel ones have arrays (one entry per output row) and axis 0.
-- Observers come in TICO's named_observers() order (graph/tico_order.lua),
-- so a recalibration reads as a small diff and a file from TICO's exporter
-- (gen/tico/) reads the same way.

local json = require "util.json"
local fail = require "util.fail"
local files = require "util.files"
local f32 = require "util.f32"
local qparams = require "calib.qparams"
local fields = require "calib.qparams_fields"
local observers = require "calib.observers"
local program = require "graph.program"
local smoothing_pairs = require "model.smoothing"

local qparams_file = {}

qparams_file.FORMAT = "kiln-qparams"
qparams_file.VERSION = 1

-- a sha256 digest as kiln writes it
local function SHA256(v) return type(v) == "string" and #v == 64 and v:match("^%x+$") ~= nil end

local MODEL_KEYS = { "arch", "hidden", "intermediate", "heads", "kv_heads", "head_dim", "layers", "vocab", "dtype" }

-- The "smoothing" block: SmoothQuant's factors, per layer and norm.
local function encode_smoothing(smoothing)
  local layers = {}
  for l, per_norm in ipairs(smoothing.layers) do
    local o = json.object()
    for _, pair in ipairs(smoothing_pairs.PAIRS) do o:set(pair.norm, per_norm[pair.norm]) end
    layers[l] = o
  end
  return json.object():set("algorithm", "smoothquant"):set("alpha", smoothing.alpha):set("layers", layers)
end

-- encode(model_info, calibration, entries [, smoothing]) -> JSON text.
-- model_info: { file, sha256 (or nil), description }; calibration: ordered json object;
-- smoothing: SmoothQuant's factors the weights are to be folded with, or nil.
function qparams_file.encode(model_info, calibration, entries, smoothing)
  local model = json.object():set("file", model_info.file)
  if model_info.sha256 then model:set("sha256", model_info.sha256) end -- without it, nothing is checked
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
    if e.grid_from then o:set("grid_from", e.grid_from) end
    if e.statistic and e.statistic.kind ~= "minmax" then
      o:set("observer", e.statistic.kind)
      if e.statistic.percentile then o:set("percentile", e.statistic.percentile) end
    end
    obs:set(e.path, o)
  end

  local doc = json.object()
    :set("format", qparams_file.FORMAT)
    :set("version", qparams_file.VERSION)
    :set("model", model)
    :set("calibration", calibration)
  if smoothing then doc:set("smoothing", encode_smoothing(smoothing)) end
  doc:set("observers", obs)
  return json.encode(doc)
end

-- Reading -----------------------------------------------------------------

local function finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

-- The "smoothing" block as float_model.load takes it: { alpha, layers =
-- { [layer + 1] = { [norm] = { s_j } } } }, each factor a positive float32.
local function read_smoothing(path, block, desc)
  if type(block) ~= "table" or block.algorithm ~= "smoothquant" then
    fail.raise(path, "smoothing.algorithm", "expected \"smoothquant\"")
  end
  if type(block.layers) ~= "table" or #block.layers ~= desc.layers then
    fail.raise(path, "smoothing.layers", string.format("expected one entry per layer (%d)", desc.layers))
  end
  local layers = {}
  for l, per_norm in ipairs(block.layers) do
    local out = {}
    for _, pair in ipairs(smoothing_pairs.PAIRS) do
      local field = string.format("smoothing.layers[%d].%s", l - 1, pair.norm)
      local list = type(per_norm) == "table" and per_norm[pair.norm]
      if type(list) ~= "table" or #list ~= desc.hidden then
        fail.raise(path, field, string.format("expected %d factors (one per hidden channel)", desc.hidden))
      end
      local factors = {}
      for j, v in ipairs(list) do
        local f = type(v) == "number" and f32.round(v) or nil
        if not (f and finite(f) and f > 0) then
          fail.raise(path, field, string.format("factor %d is %s, not a positive float32", j - 1, tostring(v)))
        end
        factors[j] = f
      end
      out[pair.norm] = factors
    end
    layers[l] = out
  end
  return { alpha = block.alpha, layers = layers }
end
-- check_value(path, name, "scale" | "zero_point", v, dtype, symmetric) -> v
-- as qparams hold it (a float32 scale, an integer zero point in range), or
-- a refusal naming the file and the observer (gptq_file reads the same fields).
qparams_file.check_value = fields.check_value

-- read(path, desc[, keep_text]) -> { observers = { [path] = { dtype, qscheme, axis, scale, zero_point, min, max } },
-- calibration, model, text }. Every observer the graphs place for this model must be
-- present and well-formed, and the file may have no other; floats are read
-- back as the float32 they were. A per_channel_* label with no axis on a
-- weight without channels (TICO's RMSNorm weights) is per-tensor, as TICO
-- computes it. Any problem is one line naming the file and the observer.
function qparams_file.read(path, desc, keep_text)
  local text = files.read(path)
  local doc, err = json.decode(text)
  if type(doc) ~= "table" then fail.raise(path, "json", tostring(err or "not a JSON object")) end
  local repeated = json.repeated_key(text, true)
  if repeated then fail.raise(path, repeated, "appears twice (which one is meant?)") end
  if doc.format ~= qparams_file.FORMAT then
    fail.raise(path, "format", string.format("expected \"%s\", got %s", qparams_file.FORMAT, fields.show(doc.format)))
  end
  if doc.version ~= qparams_file.VERSION then
    fail.raise(path, "version", "unsupported version " .. fields.show(doc.version))
  end
  fields.model_keys(path, doc.model, desc, MODEL_KEYS, false)
  if type(doc.model) == "table" and doc.model.sha256 ~= nil and not SHA256(doc.model.sha256) then
    fail.raise(path, "model.sha256", fields.show(doc.model.sha256) .. " is not a sha256 digest (64 hex digits)")
  end
  if type(doc.observers) ~= "table" then fail.raise(path, "observers", "missing") end

  local dims = { D = desc.hidden, H = desc.heads, Hk = desc.kv_heads, d = desc.head_dim, I = desc.intermediate, V = desc.vocab }
  local out = {}
  local expected = observers.resolve(desc.layers, "w8a8")
  local known = {}
  for _, e in ipairs(expected) do known[e.path] = true end
  local extra = {}
  for name in pairs(doc.observers) do
    if not known[name] then extra[#extra + 1] = tostring(name) end
  end
  if #extra > 0 then
    table.sort(extra)
    fail.raise(path, extra[1], string.format("the file has this observer%s, kiln's graphs for this model "
      .. "(graph/llama_model.lua, llama_layer.lua, llama_head.lua; %d layers) do not",
      #extra > 1 and string.format(" and %d more", #extra - 1) or "", desc.layers))
  end
  for _, e in ipairs(expected) do
    local name = e.path
    local o = doc.observers[name]
    if o == nil then
      fail.raise(path, name, "kiln's graphs have this observer, the file does not")
    end
    if type(o) ~= "table" then fail.raise(path, name, "not an object") end
    for _, key in ipairs({ "dtype", "qscheme" }) do
      if type(o[key]) ~= "string" then fail.raise(path, name, key .. " is " .. fields.show(o[key]) .. ", expected a string") end
    end
    local problem = qparams.check(o.dtype, o.qscheme)
    if problem then fail.raise(path, name, problem) end
    local dt = qparams.DTYPES[o.dtype]
    local scheme = qparams.QSCHEMES[o.qscheme]
    local qscheme = o.qscheme
    if scheme.per_channel and e.role == "norm" and (o.axis == nil or o.axis == json.decoded_null)
      and type(o.scale) ~= "table" then
      qscheme = qscheme:gsub("^per_channel", "per_tensor") -- TICO's label, per tensor in fact
      scheme = qparams.QSCHEMES[qscheme]
    end
    local entry = { dtype = o.dtype, qscheme = qscheme, min = o.min, max = o.max, role = e.role }
    fields.axis(path, name, o.axis, scheme.per_channel)
    local rows
    if scheme.per_channel then
      if e.role ~= "linear" and e.role ~= "embedding" then
        fail.raise(path, name, "per-channel qparams on an observer without a channel axis")
      end
      rows = program.numel(e.param.shape:match("^(%S+)"), dims)
      for _, field in ipairs({ "scale", "zero_point" }) do
        local list = o[field]
        if type(list) ~= "table" then
          fail.raise(path, name, string.format("%s is %s, expected an array of %d (one per output row)", field,
            fields.show(list), rows))
        end
        if #list ~= rows then
          fail.raise(path, name, string.format("%s has %d entries, but the weight has %d output rows", field, #list, rows))
        end
        local values = {}
        for c, v in ipairs(list) do
          values[c] = fields.check_value(path, name .. " channel " .. (c - 1), field, v, dt, scheme.symmetric)
        end
        entry[field] = values
      end
      entry.axis = 0
    else
      if type(o.scale) == "table" or type(o.zero_point) == "table" then
        fail.raise(path, name, "per-tensor qscheme with arrays of scales")
      end
      entry.scale = fields.scale(path, name, o.scale)
      entry.zero_point = fields.zero_point(path, name, o.zero_point, dt, scheme.symmetric)
    end
    fields.range(path, name, o, entry, rows)
    for _, key in ipairs({ "tied", "grid_from", "observer" }) do fields.optional_string(path, name, o, key) end
    out[name] = entry
  end
  -- text (keep_text): the file as read, which a generated tree keeps for kiln diff
  return { observers = out, calibration = doc.calibration, model = doc.model, path = path,
    text = keep_text and text or nil,
    smoothing = doc.smoothing ~= nil and read_smoothing(path, doc.smoothing, desc) or nil }
end

-- check_checkpoint(qp, digest, allow, file_digest) -> nil, or (with allow) a
-- note for the generated files' provenance: the file's model.sha256 is the
-- checkpoint's (digest() computes it, only when the file records one), or
-- that of the folder's weights file its model.file names (file_digest(name)).
-- qparams made for
-- another checkpoint are refused unless allow (--allow-other-checkpoint):
-- their ranges describe other weights.
function qparams_file.check_checkpoint(qp, digest, allow, file_digest)
  local recorded = type(qp.model) == "table" and qp.model.sha256 or nil
  if recorded == nil then return nil end
  local actual = digest()
  if recorded == actual then return nil end
  local file = qp.model.file
  -- a file that names one weights file of the folder may hold that file's own digest
  if type(file) == "string" and file_digest and file_digest(file:match("([^/]+)$")) == recorded then return nil end
  local what = string.format("made for %s (sha256 %s...), not this checkpoint (sha256 %s...)",
    type(file) == "string" and file or "another checkpoint", recorded:sub(1, 12), actual:sub(1, 12))
  if not allow then
    fail.raise(qp.path, "model.sha256", what .. "; --allow-other-checkpoint uses it anyway")
  end
  return what .. ", used with --allow-other-checkpoint"
end

return qparams_file
