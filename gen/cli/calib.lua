-- kiln calib MODEL --text FILE | --tokens FILE -o qparams.json: calibrate
-- every quantization point of the layer graph on story text, TICO's way,
-- with the algorithms a recipe or the options ask for (gen/calib/algorithms/).

local fail = require "util.fail"
local files = require "util.files"
local qparams = require "calib.qparams"
local progress = require "util.progress"
local common = require "cli.common"
local checkpoint = require "read.checkpoint"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local qparams_file = require "calib.qparams_file"
local settings_of = require "calib.settings"
local mixed = require "calib.algorithms.mixed"
local generate = require "emit.generate"
local gptq_file = require "calib.gptq_file"
local decode_speed = require "eval.decode_speed"
local json = require "util.json"
local fq_metrics = require "eval.fq_metrics"
local config = require "calib.config"
local pipeline = require "calib.pipeline"

local DEFAULTS = config.DEFAULTS

local verb = {
  summary = "calibrate every quantization point on story text and write qparams.json",
  synopsis = "MODEL [-z TOKENIZER] --text FILE | --tokens FILE -o qparams.json [--recipe R] [options]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    common.SAMPLE_OPTIONS[1],
    common.SAMPLE_OPTIONS[2],
    { "-o", "--output", key = "output", required = true, metavar = "FILE", help = "qparams.json to write" },
    { "--recipe", key = "recipe", metavar = "R", help = "a shipped recipe (w8a8-best, w4a16-gptq, ...) or a recipe file" },
    { "--preset", key = "preset", unset_default = DEFAULTS.preset, choices = { "w8a8", "w8a16" }, help = "TICO configuration" },
    { "--samples", key = "samples", type = "integer", min = 1, unset_default = DEFAULTS.samples, metavar = "N",
      help = "stories to calibrate on" },
    { "--decode-steps", key = "decode_steps", type = "integer", min = 0, unset_default = DEFAULTS.decode_steps,
      metavar = "D", help = "greedy decode steps after each prefill" },
    { "--decode-source", key = "decode_source", unset_default = DEFAULTS.decode_source,
      choices = calibrate.DECODE_SOURCES, help = "decode steps after float prefills (TICO's), after quantized ones, or none" },
    { "--max-tokens", key = "max_tokens", type = "integer", min = 2, metavar = "N",
      help = "prefill tokens per sample, BOS included (default max_seq - decode steps)" },
    { "--overrides", key = "overrides", metavar = "FILE", help = "Lua table of per-observer dtype/qscheme/observer overrides" },
    { "--untied-kv", key = "untied_kv", type = "flag", help = "keep TICO's independent KV cache observers" },
    { "--observer", key = "observer", unset_default = DEFAULTS.observer, choices = observers.STATISTICS,
      help = "what the activation observers keep (TICO's MinMax, EMA or Percentile)" },
    { "--percentile", key = "percentile", type = "number", metavar = "P",
      help = "central mass the percentile observer keeps, in % (default 99.99)" },
    { "--smoothquant", key = "smoothquant", type = "number", metavar = "ALPHA",
      help = "SmoothQuant with this migration strength (0.5 is the paper's) before the norms' Linears" },
    { "--share-grids", key = "share_grids", type = "flag", help = "observers that only move data take their input's grid" },
    { "--mixed", key = "mixed", type = "number", metavar = "KL",
      help = "keep the most sensitive observers at int16 until the fake-quant KL is under 0.8 KL on the calibration stories" },
    common.DTYPE_OPTION,
    { "--weights", key = "weights", metavar = "FILE", help = "gptq.json of kiln gptq: lock its weight observers to its grids" },
  },
}

-- What the int16 families cost: the generated C's memory report for the
-- chosen qparams beside the one with every observer at the preset's, and
-- their decode speed on this host (eval/decode_speed.lua).
local function mixed_cost(context, opts, run, chosen_entries, finish, together, encode)
  local preset = mixed.variant(run.entries, {}, finish, together)
  local function report(entries)
    local qp = fq_metrics.as_qparams(entries)
    qp.smoothing = run.smoothing
    local r = generate.memory { root = context.root, native = context.native, model = run.model, qp = qp }
    r.tok_s = decode_speed.measure(context, opts.MODEL, opts.dtype, encode(entries))
    return r
  end
  return { preset = report(preset), mixed = report(chosen_entries) }
end

-- --mixed: the sensitivity of every unit, the fewest at int16 for the
-- budget, and what they cost; said on stderr, returned for qparams.json.
local function choose_mixed(context, opts, cfg, run, finish)
  local native, entries, model = context.native, run.entries, run.model
  local ref = fq_metrics.reference(model, run.token_lists)
  local together = config.together(cfg)
  local units = #mixed.units(entries, together)
  local bar = progress.new(native, "sensitivity", units)
  local sens = mixed.sensitivity(native, model, entries, ref, finish, together, bar)
  bar:done()
  local chosen = mixed.select(native, model, entries, ref, finish, together, cfg.mixed, sens)
  chosen.sensitivity = sens
  io.stderr:write(string.format("kiln calib: --mixed %g: %d of %d observer families at int16 (%s); fake-quant KL "
    .. "%.5f on the calibration stories (all at the preset's: %.5f, all int16: %.5f)\n", cfg.mixed, #chosen.promoted,
    units, #chosen.promoted > 0 and table.concat(chosen.promoted, ", ") or "none", chosen.kl, sens.low, sens.high))
  chosen.memory = mixed_cost(context, opts, run, chosen.entries, finish, together, function(list)
    return qparams_file.encode({ file = files.basename(opts.MODEL), sha256 = checkpoint.sha256(run.ckpt),
      description = run.desc }, json.object(), list, run.smoothing)
  end)
  local c = chosen.memory
  io.stderr:write(string.format("kiln calib: --mixed costs %+d bytes of RAM (arena %d -> %d, KV cache %d -> %d), "
    .. "%+d of flash (constants) and decodes at %.0f tok/s against %.0f (portable target, this host)\n",
    c.mixed.arena + c.mixed.kv - c.preset.arena - c.preset.kv, c.preset.arena, c.mixed.arena, c.preset.kv, c.mixed.kv,
    c.mixed.constants - c.preset.constants, c.mixed.tok_s, c.preset.tok_s))
  return chosen
end

-- The observers whose range was degenerate (constant, or narrower than
-- TICO's eps floor allows): their scale is TICO's rule for it, not the data's.
local function degenerate(entries)
  local list = {}
  for _, e in ipairs(entries) do
    for _, s in ipairs(type(e.scale) == "table" and e.scale or { e.scale }) do
      if s <= qparams.EPS then list[#list + 1] = e.path; break end
    end
  end
  return list
end

-- kiln gen's own checks on the file about to be written (the reader's, and
-- planning every adapter without writing anything), so that calib never
-- writes a file gen refuses: a refusal names the model and the observer.
local function preflight(context, opts, run, text)
  local tmp = os.tmpname()
  local ok, err = fail.catch(function()
    files.write_atomic(tmp, text)
    local qp = qparams_file.read(tmp, run.desc)
    qp.path = opts.output
    generate.memory { root = context.root, native = context.native, model = run.model, qp = qp }
  end)
  os.remove(tmp)
  if not ok then
    fail.raise(opts.MODEL, err.field, "this calibration gives a grid kiln gen cannot lower, so " .. opts.output
      .. " is not written: " .. err.message)
  end
end

local function run_calib(opts, context)
  local native = context.native
  local cfg = config.resolve(opts, context.root)
  local run = pipeline.run(native, opts, cfg)
  local entries, model, desc, did = run.entries, run.model, run.desc, run.did
  local finish = config.finisher(cfg)
  if opts.weights then -- kiln gptq's grids: the weights it wrote stay on them (TICO's load_qparams(lock=True))
    local locked = gptq_file.lock(native, opts.weights, entries, model)
    io.stderr:write(string.format("kiln calib: %d weight observers locked to %s\n", locked, opts.weights))
  end
  local chosen
  if cfg.mixed then
    chosen = choose_mixed(context, opts, cfg, run, finish)
    entries = chosen.entries
  else
    finish(entries)
  end

  local settings = settings_of.calibration(cfg, run.source, {
    max_tokens = run.max_tokens, prefill_tokens = did.prefill_tokens, decode_tokens = did.decode_tokens,
    past_from_present = #did.past_from_present, mixed = chosen,
  })
  if opts.weights then settings:set("weights", files.basename(opts.weights)):set("weights_sha256", files.sha256(opts.weights)) end
  local text = qparams_file.encode(
    { file = files.basename(opts.MODEL), sha256 = checkpoint.sha256(run.ckpt), description = desc },
    settings, entries, run.smoothing)
  local flat = degenerate(entries)
  if #flat > 0 then
    io.stderr:write(string.format("kiln calib: warning: %d observers saw a degenerate range (constant, or under "
      .. "TICO's eps floor): they get TICO's scale for it (at least %.9g), not one from data (%s%s)\n", #flat,
      qparams.EPS, flat[1], #flat > 1 and ", ..." or ""))
  end
  preflight(context, opts, run, text)
  files.write_atomic(opts.output, text)
  io.stderr:write(string.format("kiln calib: %d observers (model level, %d layers, head), %d prefill + %d decode tokens -> %s\n",
    #entries, desc.layers, did.prefill_tokens, did.decode_tokens, opts.output))
end

-- A refusal about the data (a range that is not finite, ...) names the
-- checkpoint it came from.
function verb.run(opts, context)
  return fail.within(opts.MODEL, nil, run_calib, opts, context)
end

return verb
