-- One calibration, the steps every calibrating verb shares: the samples,
-- the float model (smoothed first when SmoothQuant is on), the observers
-- resolved and their ranges collected (calib/calibrate.lua). The grids are
-- left to the caller (config.finisher, or mixed precision's variants).

local fail = require "util.fail"
local progress = require "util.progress"
local common = require "cli.common"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local smoothquant = require "calib.algorithms.smoothquant"

local pipeline = {}

-- run(native, opts, cfg) -> { ckpt, model, desc, entries (with ranges),
-- token_lists, source, max_tokens, smoothing, did }. opts: the verb's
-- MODEL, dtype, -z and --text/--tokens.
function pipeline.run(native, opts, cfg)
  local ckpt = checkpoint.open(opts.MODEL, opts.dtype)
  local max_seq = ckpt.description.max_seq
  local max_tokens = cfg.max_tokens or (max_seq - cfg.decode_steps)
  if max_tokens < 2 or max_tokens > max_seq then
    fail.usage(string.format("--max-tokens: %d does not fit the model's max_seq %d", max_tokens, max_seq))
  end
  local token_lists, total, source = common.samples(native, opts, ckpt.description, cfg.samples, max_tokens)
  common.require_samples(total, cfg.samples, source)
  -- the executor's buffers for the longest sample only, not the model's whole context
  local load_opts = { max_seq = math.min(max_seq, max_tokens + cfg.decode_steps) }
  local model = float_model.load(native, ckpt, load_opts)
  local desc = model.desc
  local smoothing
  if cfg.smoothquant then
    smoothing = smoothquant.factors(native, model, token_lists, cfg.smoothquant.alpha or smoothquant.DEFAULT_ALPHA)
    load_opts.smoothing = smoothing
    model = float_model.load(native, ckpt, load_opts)
  end
  local function resolve() return observers.resolve(desc.layers, cfg.preset, cfg.overrides, cfg.statistic) end
  local entries = resolve()

  local passes = cfg.decode_source == "quantized" and cfg.decode_steps > 0 and 2 or 1
  local bar = progress.new(native, "calibrating", passes * #token_lists)
  local did = calibrate.run(native, model, entries, resolve, token_lists,
    { decode_source = cfg.decode_source, decode_steps = cfg.decode_steps, untied = cfg.untied_kv }, bar)
  bar:done()
  if #did.past_from_present > 0 then
    io.stderr:write(string.format("kiln calib: %d past_key/past_value observers saw no decode step; each takes its "
      .. "present_key/present_value range\n", #did.past_from_present))
  end
  return { ckpt = ckpt, model = model, desc = desc, entries = entries, token_lists = token_lists, source = source,
    max_tokens = max_tokens, smoothing = smoothing, did = did }
end

return pipeline
