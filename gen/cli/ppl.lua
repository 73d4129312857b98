-- kiln ppl MODEL -z TOKENIZER --text FILE: perplexity of the float model on
-- story text. Each story is encoded like llama2.c (BOS, dummy-prefix space),
-- truncated to --max-tokens (BOS included); tokens 1..n-1 are predicted from
-- their prefixes; perplexity = exp(mean NLL over every predicted token).

local fail = require "util.fail"
local progress = require "util.progress"
local stories = require "read.stories"
local common = require "cli.common"

local verb = {
  summary = "perplexity of the float model over the stories of a text file",
  synopsis = "MODEL -z TOKENIZER --text FILE [--max-tokens N]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    { "--text", key = "text", required = true, metavar = "FILE", help = "stories, separated by <|endoftext|>" },
    { "--max-tokens", key = "max_tokens", type = "integer", min = 2, default = 512, metavar = "N",
      help = "tokens per story, BOS included" },
  },
}

function verb.run(opts, context)
  local native = context.native
  local texts = stories.read(opts.text)
  local model = common.float_model(native, opts.MODEL)
  if opts.max_tokens > model.desc.max_seq then
    fail.usage(string.format("--max-tokens: %d exceeds the model's max_seq %d", opts.max_tokens, model.desc.max_seq))
  end
  local tok = common.tokenizer(opts.tokenizer, model)
  local bar = progress.new(native, "scoring", #texts)
  local nll, count, truncated = 0.0, 0, 0
  for _, text in ipairs(texts) do
    local ids = tok:encode(text, true, false)
    if #ids > opts.max_tokens then
      truncated = truncated + 1
      ids = table.move(ids, 1, opts.max_tokens, 1, {})
    end
    local story_nll, n = model.native:score(ids)
    nll, count = nll + story_nll, count + n
    bar:step()
  end
  bar:done()
  if count == 0 then fail.raise(opts.text, "text", "no story has two tokens to score") end
  print(string.format("stories %d (%d truncated to %d tokens)", #texts, truncated, opts.max_tokens))
  print(string.format("predicted_tokens %d", count))
  print(string.format("mean_nll %.6f", nll / count))
  print(string.format("perplexity %.4f", math.exp(nll / count)))
end

return verb
