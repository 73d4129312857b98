-- Opens a model checkpoint, whatever its format. Today: llama2.c legacy .bin.
-- Each format's reader returns the same shape of object: { path, description,
-- tensors, load(native, name) } with tensors named as TICO/Hugging Face do.

local fail = require "util.fail"
local files = require "util.files"
local llama2c = require "read.llama2c"

local checkpoint = {}

function checkpoint.open(path)
  local f = io.open(path, "rb")
  if not f then
    return llama2c.open(path) -- reports the missing file with its reason
  end
  local magic = f:read(4) or ""
  f:close()
  if magic == "GGUF" then
    fail.raise(path, "format", "GGUF checkpoints are not supported yet; use the llama2.c .bin")
  end
  if files.basename(path):match("%.safetensors$") then
    fail.raise(path, "format", "safetensors checkpoints are not supported yet; use the llama2.c .bin")
  end
  return llama2c.open(path)
end

return checkpoint
