-- kiln bench: kiln's kernels and generator against this machine's limits
-- (gen/bench/suite.lua), as a table and then `name value` lines for scripts.
-- Single-threaded; the figures that count are the ratios measured in one run.

local suite = require "bench.suite"
local targets = require "emit.targets"

local verb = {
  summary = "benchmark the kernels and the generator against this machine's limits",
  synopsis = "[--target T] [--reps N] [--models DIR] [--tokenizers DIR] [--no-gen22] [--profile] [--plugin] [--smoke]",
  positional = {},
  options = {
    { "--target", key = "target", default = "native", metavar = "T", help = "rules/T.lua (runs on this host; native: the fastest it runs)" },
    { "--reps", key = "reps", type = "integer", min = 1, default = 9, metavar = "N",
      help = "repetitions after a warm-up, spread over the rounds" },
    { "--models", key = "models", metavar = "DIR", help = "where stories260K.bin is (default ../shared/models)" },
    { "--tokenizers", key = "tokenizers", metavar = "DIR",
      help = "where the byte-level tokenizer goldens are (default ../shared/tokenizers)" },
    { "--no-gen22", key = "no_gen22", type = "flag",
      help = "skip the 22-layer models: calibration's peak RSS and the generator's timing (writes 6.6 GB)" },
    { "--profile", key = "profile", type = "flag",
      help = "firmware targets: also each function's share of the program-counter samples" },
    { "--plugin", key = "plugin", type = "flag",
      help = "firmware targets under QEMU: also the instructions counted by QEMU's TCG plugin, a function at a time" },
    { "--smoke", key = "smoke", type = "flag", help = "every step on small sizes: checks the suite runs (figures meaningless)" },
    { "-v", "--verbose", key = "verbose", type = "flag", help = "say each step on stderr" },
  },
}

local function format_value(v)
  if v >= 100 then return string.format("%.0f", v) end
  if v >= 10 then return string.format("%.1f", v) end
  return string.format("%.3f", v)
end

function verb.run(opts, context)
  local results = suite.run(context, {
    target = opts.target, reps = opts.reps, verbose = opts.verbose, skip_gen22 = opts.no_gen22, smoke = opts.smoke,
    profile = opts.profile, plugin = opts.plugin,
    models = opts.models or (context.root .. "/../shared/models"),
    tokenizers = opts.tokenizers or (context.root .. "/../shared/tokenizers"),
  })
  print(string.format("kiln bench: target %s, one thread; each figure the median of %d rounds of %d runs%s",
    targets.load(context.root, opts.target).name, opts.smoke and suite.SMOKE.ROUNDS or suite.ROUNDS,
    suite.runs_per_round(opts.reps), opts.smoke and " (--smoke: small sizes, the figures mean nothing)" or ""))
  print("")
  print(string.format("  %-66s %10s  %-5s  %s", "measure", "value", "unit", "note"))
  for _, r in ipairs(results) do
    print(string.format("  %-66s %10s  %-5s  %s", r.label, format_value(r.value), r.unit, r.note or ""))
  end
  print("")
  for _, r in ipairs(results) do print(string.format("%s %s", r.name, format_value(r.value))) end
end

return verb
