-- kiln encode TOKENIZER [--file F | --jsonl F | TEXT...]: the token ids of
-- each input on one line, in input order, as the tokenizer encodes them (no
-- BOS or EOS unless asked): a check against Hugging Face tokenizers, and a
-- way to make --tokens files.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local common = require "cli.common"

local verb = {
  summary = "print the token ids of texts (tokenizer.json, tokenizer.bin or a model folder)",
  synopsis = "TOKENIZER [--file F | --jsonl F | TEXT...] [--bos] [--eos] [--vocab N]",
  positional = { "TOKENIZER" },
  rest = "TEXT",
  options = {
    { "--file", key = "file", metavar = "F", help = "the whole file is one input" },
    { "--jsonl", key = "jsonl", metavar = "F", help = "each line of F is a JSON string (or an object with \"text\"), one input each" },
    { "--bos", key = "bos", type = "flag", help = "begin with the BOS id" },
    { "--eos", key = "eos", type = "flag", help = "end with the EOS id" },
    { "--vocab", key = "vocab", type = "integer", min = 1, metavar = "N",
      help = "vocabulary size (a tokenizer.bin does not store it; default: the model folder's, or 32000)" },
  },
}

-- The inputs, in order.
local function inputs(opts)
  local sources = (opts.file and 1 or 0) + (opts.jsonl and 1 or 0) + (#opts.rest > 0 and 1 or 0)
  if sources > 1 then fail.usage("give texts, --file or --jsonl, not more than one of them") end
  if opts.file then return { files.read(opts.file) } end
  if opts.jsonl then
    local list, n = {}, 0
    for line in files.read(opts.jsonl):gmatch("([^\n]*)\n?") do
      n = n + 1
      if line:match("%S") then
        local v = json.decode(line)
        if type(v) == "table" then v = v.text end
        if type(v) ~= "string" then fail.raise(opts.jsonl, "line " .. n, "is not a JSON string or an object with \"text\"") end
        list[#list + 1] = v
      end
    end
    return list
  end
  return opts.rest
end

-- The vocabulary and BOS/EOS of the tokenizer's model, when TOKENIZER is a model folder.
function verb.model_desc(path, vocab)
  local hf = require "read.hf"
  local desc = { vocab = vocab, bos_id = 1, eos_id = 2 }
  if hf.is_folder(path) then
    local checkpoint = require "read.checkpoint"
    local d = checkpoint.open(path).description
    desc.vocab, desc.bos_id, desc.eos_id = vocab or d.vocab, d.bos_id or 1, d.eos_id or 2
  end
  desc.vocab = desc.vocab or 32000
  return desc
end

function verb.run(opts, context)
  local tok = common.open_tokenizer(context.native, opts.TOKENIZER, verb.model_desc(opts.TOKENIZER, opts.vocab))
  for _, text in ipairs(inputs(opts)) do
    io.write(table.concat(tok:encode(text, opts.bos, opts.eos), " "), "\n")
  end
end

return verb
