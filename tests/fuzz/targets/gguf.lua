-- A GGUF file: opened (metadata, tensor infos, alignment) and every tensor
-- loaded (mapped, or Q8_0 dequantized in C).
local gguf = require "read.gguf"

return function(fuzz, data)
  local ckpt = gguf.open(fuzz.file("model.gguf", data))
  fuzz.load_all(ckpt, fuzz.sorted_keys(ckpt.tensors))
end
