-- qparams for benchmark models: kiln's own calibration (calib/), driven by
-- deterministic random token sequences instead of text, on an executor with
-- a short context so that even a 22-layer model calibrates in seconds.

local files = require "util.files"
local json = require "util.json"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local qparams_file = require "calib.qparams_file"

local calibration = {}

-- write(native, model_path, preset, out_path, opts): opts.samples sequences of
-- opts.tokens tokens (BOS first), opts.decode_steps greedy steps each.
function calibration.write(native, model_path, preset, out_path, opts)
  local ckpt = checkpoint.open(model_path)
  local model = float_model.load(native, ckpt, { max_seq = opts.tokens + opts.decode_steps })
  local desc = model.desc
  local seed = 12345
  local lists = {}
  for s = 1, opts.samples do
    local ids = { 1 }
    for i = 2, opts.tokens do
      seed = (seed * 1103515245 + 12345) % 2147483648
      ids[i] = 3 + seed % (desc.vocab - 3)
    end
    lists[s] = ids
  end
  local entries = observers.resolve(desc.layers, preset)
  local ranges = calibrate.collect(native, model, entries, lists, opts.decode_steps)
  calibrate.attach_ranges(entries, ranges, model)
  calibrate.tie_kv(entries)
  calibrate.compute(entries)
  local settings = json.object():set("tool", "kiln bench"):set("profile", "npu_export"):set("preset", preset)
    :set("samples", opts.samples):set("tokens", opts.tokens):set("decode_steps", opts.decode_steps)
    :set("kv_cache", "tied")
  files.write_atomic(out_path, qparams_file.encode(
    { file = files.basename(model_path), description = ckpt.description }, -- no sha256: the benchmark skips hashing its files
    settings, entries))
end

return calibration
