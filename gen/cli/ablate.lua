-- kiln ablate MODEL -z TOK --calib-text A --eval-text B -o DIR: which decode
-- source (and preset) gives the better integer model on held-out text
-- (gen/eval/ablation.lua). Writes DIR/results.json, DIR/report.md,
-- DIR/index.html and DIR/qparams/ (every calibrated file), replacing DIR
-- only when all of it is done.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local progress = require "util.progress"
local common = require "cli.common"
local checkpoint = require "read.checkpoint"
local calibrate = require "calib.calibrate"
local targets = require "emit.targets"
local generate = require "emit.generate"
local host = require "eval.host"
local ablation = require "eval.ablation"
local html_report = require "eval.html_report"
local md_report = require "eval.md_report"

local verb = {
  summary = "compare calibration choices (decode source x preset) on held-out text, with a report",
  synopsis = "MODEL [-z TOK] --calib-text A --eval-text B -o DIR [--presets w8a8,w8a16] [--sources float,quantized] "
    .. "[--samples N] [--decode-steps D] [--repeats R]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    { "--calib-text", key = "calib_text", required = true, metavar = "FILE", help = "stories to calibrate on" },
    { "--calib-range", key = "calib_range", default = "0:100", metavar = "A:B", help = "its stories A..B-1" },
    { "--eval-text", key = "eval_text", required = true, metavar = "FILE", help = "held-out stories to measure on" },
    { "--eval-range", key = "eval_range", default = "200:400", metavar = "A:B", help = "its stories A..B-1" },
    { "-o", "--output", key = "output", required = true, metavar = "DIR", help = "report directory (replaced on success)" },
    common.FORCE_OPTION,
    { "--presets", key = "presets", default = "w8a8,w8a16", metavar = "LIST", help = "TICO configurations" },
    { "--sources", key = "sources", default = "float,quantized", metavar = "LIST",
      help = "decode sources (float, quantized, none)" },
    { "--samples", key = "samples", type = "integer", min = 1, default = 16, metavar = "N",
      help = "stories per calibration set" },
    { "--decode-steps", key = "decode_steps", type = "integer", min = 1, default = 8, metavar = "D",
      help = "greedy decode steps after each prefill" },
    { "--repeats", key = "repeats", type = "integer", min = 2, default = 3, metavar = "R",
      help = "disjoint calibration sets (the spread)" },
    { "--prompt-len", key = "prompt_len", type = "integer", min = 1, default = 32, metavar = "L",
      help = "positions measured through the prefill adapters; the rest go through decode" },
    { "--max-tokens", key = "max_tokens", type = "integer", min = 2, default = 256, metavar = "N",
      help = "tokens per calibration story, BOS included" },
    common.TARGET_OPTION,
  },
}

local function range(text, option)
  local a, b = text:match("^(%d+):(%d+)$")
  a, b = tonumber(a), tonumber(b)
  if not a or a >= b or b > 1000000 then fail.usage(option .. ": expected A:B with A < B (stories A..B-1), got '" .. text .. "'") end
  return { a, b }
end

local function list(text, option, allowed)
  local out, seen = {}, {}
  for item in text:gmatch("[^,]+") do
    local ok = false
    for _, a in ipairs(allowed) do ok = ok or a == item end
    if not ok then fail.usage(option .. ": '" .. item .. "' is not one of " .. table.concat(allowed, ", ")) end
    if seen[item] then fail.usage(option .. ": '" .. item .. "' twice") end
    seen[item] = true
    out[#out + 1] = item
  end
  if #out == 0 then fail.usage(option .. ": empty list") end
  return out
end

function verb.run(opts, context)
  local o = {
    model = opts.MODEL, calib_text = opts.calib_text, eval_text = opts.eval_text,
    calib_range = range(opts.calib_range, "--calib-range"), eval_range = range(opts.eval_range, "--eval-range"),
    presets = list(opts.presets, "--presets", { "w8a8", "w8a16" }),
    sources = list(opts.sources, "--sources", calibrate.DECODE_SOURCES),
    samples = opts.samples, decode_steps = opts.decode_steps, repeats = opts.repeats, prompt_len = opts.prompt_len,
    max_tokens = opts.max_tokens, target = opts.target,
  }
  if #o.sources < 2 then fail.usage("--sources: an ablation compares at least two") end
  if o.samples * o.repeats > o.calib_range[2] - o.calib_range[1] then
    fail.usage(string.format("--calib-range: %d stories hold fewer than --repeats %d x --samples %d disjoint sets",
      o.calib_range[2] - o.calib_range[1], o.repeats, o.samples))
  end
  for _, path in ipairs({ o.calib_text, o.eval_text }) do
    if not files.exists(path) then fail.raise(path, "file", "not found") end
  end
  -- the evaluation must be held out: never a calibration story
  if files.sha256(o.calib_text) == files.sha256(o.eval_text)
    and o.eval_range[1] < o.calib_range[2] and o.calib_range[1] < o.eval_range[2] then
    fail.usage("--eval-range: overlaps --calib-range in the same text; the evaluation must be held out")
  end
  generate.check_output(opts.output, opts.force) -- before the work, not after it
  local rules = targets.load(context.root, o.target)
  if rules.firmware then fail.usage("--target: ablate drives the host test program; " .. rules.name .. " builds firmware") end
  host.check_cpu(rules)
  o.target_name = rules.name
  local ckpt = checkpoint.open(o.model)
  o.tokenizer = common.open_tokenizer(context.native, common.tokenizer_path(opts.tokenizer, o.model), ckpt.description)

  local scratch = host.workspace()
  o.scratch = scratch
  local bar = progress.new(context.native, "ablating", o.repeats * #o.presets * #o.sources)
  local ok, results, qparams = pcall(ablation.run, context, o, bar)
  host.cleanup(scratch)
  if not ok then error(results, 0) end
  bar:done()

  local tree = {
    ["results.json"] = json.encode(ablation.to_json(results)),
    ["report.md"] = md_report.ablation(results),
    ["index.html"] = html_report.ablation(results),
  }
  for name, text in pairs(qparams) do tree["qparams/" .. name] = text end
  generate.write_tree(opts.output, tree, { force = opts.force })
  io.stdout:write(md_report.ablation(results))
  io.stderr:write(string.format("kiln ablate: %d runs -> %s (index.html, report.md, results.json)\n", #results.runs,
    opts.output))
end

return verb
