-- Loading steps shared by the verbs that run the model.

local checkpoint = require "read.checkpoint"
local tokenizer = require "read.tokenizer"
local float_model = require "model.float_model"

local common = {}

-- The float reference model of a checkpoint: { native, desc, observers, weights, ckpt }.
-- dtype: the --dtype override or nil.
function common.float_model(native, path, dtype)
  return float_model.load(native, checkpoint.open(path, dtype))
end

function common.tokenizer(path, model)
  return tokenizer.open(path, model.desc.vocab)
end

-- Options every model-running verb takes.
common.TOKENIZER_OPTION = { "-z", "--tokenizer", key = "tokenizer", required = true, metavar = "FILE",
  help = "llama2.c tokenizer.bin" }

-- The dtype the weights are held in, for every verb that reads a model.
common.DTYPE_OPTION = { "--dtype", key = "dtype", choices = checkpoint.DTYPES, metavar = "T",
  help = "hold the weights as fp32, fp16 or bf16 (default: as the checkpoint stores them)" }

-- Static shapes of the generated C, for the verbs that generate.
common.SHAPE_OPTIONS = {
  { "--prefill-len", key = "prefill_len", type = "integer", min = 1, metavar = "S", help = "static prefill block" },
  { "--append-len", key = "append_len", type = "integer", min = 1, metavar = "Q", help = "static append-prefill block" },
}
common.TARGET_OPTION = { "--target", key = "target", default = "portable", metavar = "T", help = "rules/T.lua" }

-- options(list, ...) -> list followed by the extra options
function common.options(list, ...)
  local out = table.move(list, 1, #list, 1, {})
  for _, extra in ipairs({ ... }) do
    for _, o in ipairs(extra) do out[#out + 1] = o end
  end
  return out
end

return common
