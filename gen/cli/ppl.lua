-- kiln ppl MODEL --text FILE | --tokens FILE: perplexity of the float model
-- on story text. Each story is encoded with the model's tokenizer (BOS
-- first), or given as ids by --tokens, and truncated to --max-tokens (BOS
-- included); tokens 1..n-1 are predicted from their prefixes; perplexity =
-- exp(mean NLL over every predicted token).
-- With --qparams the logits come from the generated C (built for the host).

local fail = require "util.fail"
local detmath = require "util.detmath"
local progress = require "util.progress"
local common = require "cli.common"
local host = require "eval.host"
local metrics = require "eval.metrics"
local grids = require "plan.grids"

local verb = {
  summary = "perplexity of the float model over the stories of a text file",
  synopsis = "MODEL [-z TOKENIZER] --text FILE | --tokens FILE [--max-tokens N]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    common.SAMPLE_OPTIONS[1],
    common.SAMPLE_OPTIONS[2],
    common.MAX_TOKENS_OPTION,
    { "--qparams", key = "qparams", metavar = "FILE", help = "score the generated C of this calibration instead" },
    common.TARGET_OPTION,
    common.DTYPE_OPTION,
    common.ALLOW_OTHER_OPTION,
  },
}

local function report(n_stories, truncated, max_tokens, count, mean_nll)
  print(string.format("stories %d (%d truncated to %d tokens)", n_stories, truncated, max_tokens))
  print(string.format("predicted_tokens %d", count))
  print(string.format("mean_nll %.6f", mean_nll))
  print(string.format("perplexity %.4f", detmath.exp(mean_nll)))
end

local function check_length(opts, max_seq)
  opts.max_tokens = common.max_tokens(opts, max_seq)
end

local function ppl_generated(opts, context)
  host.with_model(context, { model_path = opts.MODEL, dtype = opts.dtype, qparams_path = opts.qparams,
    allow_other_checkpoint = opts.allow_other_checkpoint,
    target = opts.target },
    function(g, dir)
      check_length(opts, g.desc.max_seq)
      local lists, _, _, truncated = common.samples(context.native, opts, g.desc, nil, opts.max_tokens)
      local bar = progress.new(context.native, "scoring", #lists)
      local m = metrics.model({ native = context.native, model = g.model, desc = g.desc, dir = dir,
        logits_grid = grids.of(g.qp, "lm_head.act_out"), runner = g.rules.build }, lists, bar)
      bar:done()
      report(#lists, truncated, opts.max_tokens, m.scored, m.mean_nll)
    end)
end

function verb.run(opts, context)
  common.check_samples(opts)
  if opts.qparams then return ppl_generated(opts, context) end
  local model = common.float_model(context.native, opts.MODEL, opts.dtype)
  check_length(opts, model.desc.max_seq)
  local lists, _, source, truncated = common.samples(context.native, opts, model.desc, nil, opts.max_tokens)
  local bar = progress.new(context.native, "scoring", #lists)
  local nll, count = 0.0, 0
  for _, ids in ipairs(lists) do
    local story_nll, n = model.native:score(ids)
    nll, count = nll + story_nll, count + n
    bar:step()
  end
  bar:done()
  if count == 0 then fail.raise(source.path, source.option, "no sample has two tokens to score") end
  report(#lists, truncated, opts.max_tokens, count, nll / count)
end

return verb
