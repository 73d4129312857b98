-- kiln describe MODEL: print the layer description derived from a checkpoint.

local checkpoint = require "read.checkpoint"
local description = require "model.description"
local common = require "cli.common"

return {
  summary = "print the layer description (a Lua table) of a checkpoint",
  synopsis = "MODEL [--dtype T]",
  positional = { "MODEL" },
  options = { common.DTYPE_OPTION },
  needs_native = false,
  run = function(opts)
    local ckpt = checkpoint.open(opts.MODEL, opts.dtype)
    io.write(description.render(description.with_static_shapes(ckpt.description), opts.MODEL))
  end,
}
