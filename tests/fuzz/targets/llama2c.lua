-- A llama2.c checkpoint: opened (header against size) and every tensor loaded.
local llama2c = require "read.llama2c"

return function(fuzz, data)
  local ckpt = llama2c.open(fuzz.file("model.bin", data))
  fuzz.load_all(ckpt, ckpt.order)
end
