-- The "calibration" block of qparams.json: how the ranges were collected
-- and which algorithms shaped the grids, enough to redo the calibration.

local json = require "util.json"
local files = require "util.files"
local statistics = require "calib.statistics"
local calibrate = require "calib.calibrate"
local observers = require "calib.observers"

local settings = {}

-- calibration(cfg, source, did) -> ordered json object. cfg: the verb's
-- resolved settings; source: where the samples came from (common.samples);
-- did: { max_tokens, prefill_tokens, decode_tokens, past_from_present, mixed }.
function settings.calibration(cfg, source, did)
  local s = json.object()
    :set("tool", "kiln calib")
    :set("profile", "npu_export")
    :set("preset", cfg.preset)
  for _, kv in ipairs(statistics.describe(cfg.statistic)) do s:set(kv[1], kv[2]) end
  s:set(source.option, files.basename(source.path))
    :set(source.option .. "_sha256", files.sha256(source.path))
  if source.tokenizer then
    s:set("tokenizer", files.basename(source.tokenizer)):set("tokenizer_sha256", files.sha256(source.tokenizer))
  end
  s:set("samples", cfg.samples)
    :set("max_tokens", did.max_tokens)
    :set("decode_steps", cfg.decode_steps)
    :set("decode_source", calibrate.RECORDED_SOURCE[cfg.decode_source])
    :set("prefill_tokens", did.prefill_tokens)
    :set("decode_tokens", did.decode_tokens)
  if did.past_from_present > 0 then s:set("past_from_present", did.past_from_present) end
  s:set("kv_cache", cfg.untied_kv and "untied" or "tied")
  s:set("overrides", observers.record(cfg.overrides))
  if cfg.recipe then s:set("recipe", json.object():set("name", cfg.recipe.name):set("sha256", cfg.recipe.sha256)) end
  if cfg.smoothquant then s:set("smoothquant", json.object():set("alpha", cfg.smoothquant.alpha or 0.5)) end
  if cfg.share_grids then s:set("share_grids", true) end
  if did.mixed then
    s:set("mixed", json.object()
      :set("kl_budget", cfg.mixed)
      :set("int16_families", did.mixed.promoted)
      :set("kl_fake_quant", did.mixed.kl)
      :set("kl_all_preset", did.mixed.sensitivity.low)
      :set("kl_all_int16", did.mixed.sensitivity.high)
      :set("ram_bytes", did.mixed.memory.mixed.arena + did.mixed.memory.mixed.kv)
      :set("ram_bytes_all_preset", did.mixed.memory.preset.arena + did.mixed.memory.preset.kv)
      :set("constants_bytes", did.mixed.memory.mixed.constants)
      :set("constants_bytes_all_preset", did.mixed.memory.preset.constants)
      :set("decode_tok_s", did.mixed.memory.mixed.tok_s)
      :set("decode_tok_s_all_preset", did.mixed.memory.preset.tok_s))
  end
  return s
end

return settings
