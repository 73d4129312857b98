-- kiln describe MODEL: print the layer description derived from a checkpoint.

local checkpoint = require "read.checkpoint"
local description = require "model.description"

return {
  summary = "print the layer description (a Lua table) of a checkpoint",
  synopsis = "MODEL",
  positional = { "MODEL" },
  needs_native = false,
  run = function(opts)
    local ckpt = checkpoint.open(opts.MODEL)
    io.write(description.render(description.with_static_shapes(ckpt.description), ckpt.description.weights.file))
  end,
}
