-- kiln sensitivity MODEL --text FILE [calib's options]: which observer
-- families cost the most accuracy at the calibration's precision. Each family
-- alone at the preset's (or recipe's) formats, everything else at int16, on
-- the fake-quant model against float over the calibration stories
-- (calib/algorithms/mixed.lua). What `kiln calib --mixed` acts on.

local files = require "util.files"
local json = require "util.json"
local progress = require "util.progress"
local calib = require "cli.calib"
local config = require "calib.config"
local pipeline = require "calib.pipeline"
local mixed = require "calib.algorithms.mixed"
local fq_metrics = require "eval.fq_metrics"

local options = {}
for _, o in ipairs(calib.options) do
  if o.key ~= "output" and o.key ~= "mixed" then options[#options + 1] = o end
end
options[#options + 1] = { "--json", key = "json", metavar = "FILE", help = "also write the table as JSON" }

local verb = {
  summary = "the KL each observer family adds at the calibration's precision (the rest at int16)",
  synopsis = "MODEL [-z TOKENIZER] --text FILE | --tokens FILE [--preset P | --recipe R] [calib options] [--json FILE]",
  positional = { "MODEL" },
  options = options,
}

function verb.run(opts, context)
  local native = context.native
  local cfg = config.resolve(opts, context.root)
  local run = pipeline.run(native, opts, cfg)
  local ref = fq_metrics.reference(run.model, run.token_lists)
  local together = config.together(cfg)
  local bar = progress.new(native, "sensitivity", #mixed.units(run.entries, together))
  local sens = mixed.sensitivity(native, run.model, run.entries, ref, config.finisher(cfg), together, bar)
  bar:done()
  local lines = {
    string.format("# fake-quant KL against float on %d calibration stories (%d positions)", #run.token_lists,
      fq_metrics.positions(ref)),
    string.format("all at the calibration's formats (%s): %.5f", cfg.recipe and cfg.recipe.name or cfg.preset, sens.low),
    string.format("all int16: %.5f", sens.high),
    "",
    string.format("%-40s %10s %10s %9s", "family", "kl_alone", "added", "observers"),
  }
  local rows = {}
  for _, u in ipairs(sens.units) do
    lines[#lines + 1] = string.format("%-40s %10.5f %10.5f %9d", u.name, u.kl, u.delta, #u.paths)
    rows[#rows + 1] = json.object():set("family", u.name):set("kl_alone", u.kl):set("added", u.delta):set("observers", u.paths)
  end
  io.stdout:write(table.concat(lines, "\n"), "\n")
  if opts.json then
    files.write_atomic(opts.json, json.encode(json.object():set("kl_all_preset", sens.low):set("kl_all_int16", sens.high)
      :set("families", rows)))
  end
end

return verb
