-- kiln decode TOKENIZER IDS...: the text of token ids, as the tokenizer's
-- decoder gives it (tokenizers' decode, special tokens kept, for a
-- tokenizer.json; what run.c prints after a leading BOS for a tokenizer.bin).

local fail = require "util.fail"
local common = require "cli.common"
local encode = require "cli.encode"

local verb = {
  summary = "print the text of token ids",
  synopsis = "TOKENIZER IDS... [--vocab N]",
  positional = { "TOKENIZER" },
  rest = "IDS",
  options = {
    { "--vocab", key = "vocab", type = "integer", min = 1, metavar = "N",
      help = "vocabulary size (a tokenizer.bin does not store it; default: the model folder's, or 32000)" },
  },
}

function verb.run(opts, context)
  local desc = encode.model_desc(opts.TOKENIZER, opts.vocab)
  local tok = common.open_tokenizer(context.native, opts.TOKENIZER, desc)
  local ids = {}
  for i, a in ipairs(opts.rest) do
    local id = math.tointeger(tonumber(a))
    if not id or id < 0 or id >= (tok.vocab_size or desc.vocab) then
      fail.usage(string.format("IDS: '%s' (argument %d) is not a token id", a, i))
    end
    ids[i] = id
  end
  io.write(tok:decode_ids(ids), "\n")
end

return verb
