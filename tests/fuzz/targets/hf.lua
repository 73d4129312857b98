-- A Hugging Face folder: config.json and model.safetensors (the input's two
-- parts, cut at fuzz.SEPARATOR), opened (config against the tensors) and
-- every tensor loaded.
local hf = require "read.hf"

return function(fuzz, data)
  local parts = fuzz.split(data, 2)
  os.remove(fuzz.scratch .. "/model.safetensors")
  fuzz.file("config.json", parts[1])
  if parts[2] then fuzz.file("model.safetensors", parts[2]) end
  local ckpt = hf.open(fuzz.scratch)
  fuzz.load_all(ckpt, fuzz.sorted_keys(ckpt.tensors))
end
