-- kiln eval MODEL --qparams Q --text FILE | --tokens FILE: generate the C for a
-- target, build it for the host, and measure it against the float model:
-- per layer and adapter (TICO's error summary, LSBs against the fake-quant
-- reference), prefill/decode consistency, then perplexity, KL divergence and
-- top-1 agreement on the stories (or id lists) of FILE.

local fail = require "util.fail"
local progress = require "util.progress"
local common = require "cli.common"
local float_model = require "model.float_model"
local grids = require "plan.grids"
local host = require "eval.host"
local targets = require "emit.targets"
local layers = require "eval.layers"
local metrics = require "eval.metrics"
local html_report = require "eval.html_report"

local verb = {
  summary = "build the generated C and measure it against the float and fake-quant references",
  synopsis = "MODEL --qparams Q [-z TOKENIZER] --text FILE | --tokens FILE [--target T] [--stories N] [--max-tokens N] [--html DIR]",
  positional = { "MODEL" },
  options = common.options({
    { "--qparams", key = "qparams", required = true, metavar = "FILE", help = "qparams.json" },
    common.TOKENIZER_OPTION,
    common.SAMPLE_OPTIONS[1],
    common.SAMPLE_OPTIONS[2],
    common.TARGET_OPTION,
    common.DTYPE_OPTION,
    common.ALLOW_OTHER_OPTION,
    { "--stories", key = "stories", type = "integer", min = 1, metavar = "N", help = "stories for the model metrics (default all)" },
    common.MAX_TOKENS_OPTION,
    { "--layers-only", key = "layers_only", type = "flag", help = "skip the model-level metrics" },
    { "--keep", key = "keep", metavar = "DIR", help = "generate into DIR and keep it" },
    { "--html", key = "html", metavar = "DIR", help = "also write DIR/index.html: the per-layer tables, charts and scatter plots" },
    { "--reference", key = "reference", metavar = "MODEL",
      help = "the float model the model metrics compare with (default MODEL; e.g. the one kiln gptq read)" },
  }, common.SHAPE_OPTIONS),
}

-- ctx with the float model of --reference (the same vocabulary) for the model metrics.
local function with_reference(native, ctx, opts)
  local ref = common.float_model(native, opts.reference, opts.dtype)
  if ref.desc.vocab ~= ctx.desc.vocab then
    fail.usage(string.format("--reference: vocabulary %d, but the model's is %d", ref.desc.vocab, ctx.desc.vocab))
  end
  return setmetatable({ model = ref }, { __index = ctx })
end

function verb.run(opts, context)
  local native = context.native
  common.check_samples(opts)
  if targets.load(context.root, opts.target).firmware then
    fail.usage("--target: eval drives the host test program; " .. opts.target .. " builds firmware, which "
      .. "`kiln run --target " .. opts.target .. "` runs")
  end
  host.with_model(context, {
    model_path = opts.MODEL, dtype = opts.dtype, qparams_path = opts.qparams,
    allow_other_checkpoint = opts.allow_other_checkpoint, target = opts.target,
    prefill_len = opts.prefill_len, append_len = opts.append_len, keep = opts.keep,
  }, function(g, dir)
    if g.desc.prefill_len < 2 then fail.usage("--prefill-len: eval needs at least 2 rows") end
    opts.max_tokens = common.max_tokens(opts, g.desc.max_seq)
    local ids = common.samples(native, opts, g.desc, opts.stories, opts.max_tokens)
    local ctx = {
      native = native, model = g.model, fq = float_model.with_fake_quant(native, g.model, g.qp), qp = g.qp,
      desc = g.desc, dir = dir, logits_grid = grids.of(g.qp, "lm_head.act_out"), runner = g.rules.build,
    }
    -- the layer checks use the first story long enough for all three adapters
    for _, t in ipairs(ids) do
      if #t >= g.desc.prefill_len + g.desc.append_len + 2 then ctx.tokens = t; break end
    end
    ctx.tokens = ctx.tokens or ids[1]
    -- the decode and append adapters need a past: a prefill row, an append block and one more token
    local need = g.desc.append_len + 2
    if #ctx.tokens < need then
      fail.raise(opts.text or opts.tokens, "stories", string.format("no story reaches %d tokens (--max-tokens %d; the "
        .. "layer checks need a prefill row, an append block of %d and a decode step)", need, opts.max_tokens,
        g.desc.append_len))
    end
    if #g.report.untied > 0 then
      print(string.format("note: %d KV cache observer pairs are untied (%s, ...): decode reads the past "
        .. "requantized, so prefill and decode are not expected to agree", #g.report.untied, g.report.untied[1]))
    end
    local results, text = layers.compare(ctx)
    print(text)
    local worst_within, worst_lsb = 1.0, 0
    for _, r in ipairs(results) do
      for _, name in ipairs({ "hidden", "new_k", "new_v" }) do
        worst_within = math.min(worst_within, r[name].within_1lsb)
        worst_lsb = math.max(worst_lsb, r[name].max_lsb)
      end
    end
    local consistency = 0
    for _, r in ipairs(layers.prefill_vs_decode(ctx)) do consistency = math.max(consistency, r.max_lsb) end
    print(string.format("within_1lsb_min %.6f", worst_within))
    print(string.format("max_lsb_deviation %d", worst_lsb))
    print(string.format("prefill_vs_decode_max_lsb %d", consistency))
    local m
    if not opts.layers_only then
      local bar = progress.new(native, "scoring", #ids)
      m = metrics.model(opts.reference and with_reference(native, ctx, opts) or ctx, ids, bar)
      bar:done()
      print(string.format("stories %d", m.stories))
      print(string.format("positions %d", m.positions))
      print(string.format("perplexity_float %.4f", m.perplexity_float))
      print(string.format("perplexity %.4f", m.perplexity))
      print(string.format("kl_mean %.6f", m.kl_mean))
      print(string.format("top1_agreement %.4f", m.top1_agreement))
    end
    if opts.html then
      html_report.write_index(opts.html, html_report.layers(string.format("kiln eval: %s with %s (%s)",
        opts.MODEL:match("[^/]*$"), opts.qparams:match("[^/]*$"), opts.target), results, m))
    end
  end)
end

return verb
