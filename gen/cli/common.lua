-- Loading steps shared by the verbs that run the model.

local checkpoint = require "read.checkpoint"
local tokenizer = require "read.tokenizer"
local float_model = require "model.float_model"

local common = {}

-- The float reference model of a checkpoint: { native, desc, observers, weights, ckpt }.
function common.float_model(native, path)
  local ckpt = checkpoint.open(path)
  local model = float_model.load(native, ckpt)
  model.ckpt = ckpt
  return model
end

function common.tokenizer(path, model)
  return tokenizer.open(path, model.desc.vocab)
end

-- Options every model-running verb takes.
common.TOKENIZER_OPTION = { "-z", "--tokenizer", key = "tokenizer", required = true, metavar = "FILE",
  help = "llama2.c tokenizer.bin" }

return common
