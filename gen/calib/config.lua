-- A calibration's settings: kiln's defaults, then a recipe's fields
-- (calib/recipe.lua), then every option given on the command line; checked
-- once, here, for `kiln calib` and `kiln sensitivity` alike.

local fail = require "util.fail"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local recipe = require "calib.recipe"
local shared_grids = require "calib.algorithms.shared_grids"

local config = {}

config.DEFAULTS = { preset = "w8a16", samples = 16, decode_steps = 8, decode_source = "float", observer = "minmax" }

-- resolve(opts, root) -> cfg: { preset, samples, decode_steps, decode_source,
-- max_tokens, observer, percentile, statistic, overrides, untied_kv,
-- smoothquant, share_grids, mixed, recipe }
function config.resolve(opts, root)
  local cfg = {}
  for k, v in pairs(config.DEFAULTS) do cfg[k] = v end
  local r = opts.recipe and recipe.load(root, opts.recipe) or nil
  if r then
    for k, v in pairs(r.fields) do cfg[k] = v end
    cfg.recipe = r
  end
  for _, key in ipairs({ "preset", "samples", "decode_steps", "decode_source", "max_tokens", "observer", "percentile", "mixed" }) do
    if opts[key] ~= nil then cfg[key] = opts[key] end
  end
  if opts.smoothquant then cfg.smoothquant = { alpha = opts.smoothquant } end
  if opts.share_grids then cfg.share_grids = true end
  if opts.untied_kv then cfg.untied_kv = true end
  if opts.overrides then cfg.overrides = observers.load_overrides(opts.overrides) end
  if not observers.PRESETS[cfg.preset] then fail.usage("preset: unknown preset '" .. tostring(cfg.preset) .. "' (w8a8, w8a16)") end
  local known = false
  for _, s in ipairs(calibrate.DECODE_SOURCES) do known = known or s == cfg.decode_source end
  if not known then fail.usage("decode_source: '" .. tostring(cfg.decode_source) .. "' is not float, quantized or none") end
  local problem = observers.check_statistic(cfg.observer, cfg.percentile)
  if problem then fail.usage("--observer/--percentile: " .. problem) end
  if cfg.smoothquant and cfg.smoothquant.alpha and not (cfg.smoothquant.alpha >= 0 and cfg.smoothquant.alpha <= 1) then
    fail.usage("--smoothquant: alpha must be in [0, 1]")
  end
  if cfg.mixed ~= nil and not (cfg.mixed > 0 and cfg.mixed < math.huge) then
    fail.usage("--mixed: the KL budget must be a positive number, got " .. tostring(cfg.mixed))
  end
  if cfg.gptq and not opts.weights then
    fail.usage("--recipe: " .. cfg.recipe.name .. " has GPTQ weights: run `kiln gptq MODEL --recipe "
      .. cfg.recipe.name .. " -o DIR` first, then calibrate DIR with --weights DIR/gptq.json (README, GPTQ)")
  end
  cfg.statistic = { kind = cfg.observer, percentile = cfg.percentile }
  return cfg
end

-- scale and zero point of every entry, then the grids the data-moving
-- observers share: how every set of calibrated ranges becomes qparams.
function config.finisher(cfg)
  return function(entries)
    calibrate.compute(entries)
    if cfg.share_grids then shared_grids.apply(entries) end
  end
end

-- together(cfg) -> the observer pairs that share one grid under cfg (mixed
-- precision promotes them as one).
function config.together(cfg)
  if not cfg.share_grids then return {} end
  local out = {}
  for _, p in ipairs(shared_grids.pairs()) do out[#out + 1] = { p.observer, p.from } end
  return out
end

return config
