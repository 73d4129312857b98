-- `kiln synth -o DIR`: writes the synthetic default model (model.bin,
-- tokenizer.bin, text.txt; see gen/model/synthetic.lua) into DIR.
--
-- It is a separate verb so that `make demo` can make its own model when
-- stories260K is missing, and so that anyone can get a small checkpoint to
-- try kiln on. The verb needs no native module. It is pure Lua, so it works
-- before anything is built.

local files = require "util.files"
local synthetic = require "model.synthetic"

return {
  summary = "write the small synthetic Llama (the embedded default model)",
  synopsis = "-o DIR",
  options = {
    { "-o", "--output", key = "output", type = "string", metavar = "DIR", required = true,
      help = "directory for model.bin, tokenizer.bin and text.txt (created if missing)" },
  },
  positional = {},
  needs_native = false,
  run = function(opts)
    files.make_dir(opts.output)
    local paths = synthetic.write(opts.output)
    print(paths.model)
    print(paths.tokenizer)
    print(paths.text)
    return 0
  end,
}
