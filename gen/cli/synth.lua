-- `kiln synth -o DIR [--format llama2c|hf|gguf] [--dtype T]`: writes the
-- synthetic default model (see gen/model/synthetic.lua) into DIR, with its
-- tokenizer.bin and text.txt: as model.bin (llama2.c), as a Hugging Face
-- folder (DIR itself: config.json, model.safetensors), or as model.gguf.
--
-- It is a separate verb so that `make demo` can make its own model when
-- stories260K is missing, so that anyone can get a small checkpoint to try
-- kiln on, and so that every reader is tested on a checkout alone. The
-- llama2.c model is pure Lua and needs no native module; the other formats
-- are converted from it through the readers (gen/write/convert.lua).

local fail = require "util.fail"
local files = require "util.files"
local synthetic = require "model.synthetic"

return {
  summary = "write the small synthetic Llama (the embedded default model)",
  synopsis = "-o DIR [--format llama2c|hf|gguf] [--dtype fp32|fp16|bf16]",
  options = {
    { "-o", "--output", key = "output", type = "string", metavar = "DIR", required = true,
      help = "directory for the model, tokenizer.bin and text.txt (created if missing)" },
    { "--format", key = "format", default = "llama2c", choices = { "llama2c", "hf", "gguf" },
      help = "model.bin, a Hugging Face folder, or model.gguf" },
    { "--dtype", key = "dtype", default = "fp32", choices = { "fp32", "fp16", "bf16" },
      help = "weights dtype (hf, gguf; llama2.c is fp32)" },
  },
  positional = {},
  needs_native = function(opts) return opts.format ~= "llama2c" end,
  run = function(opts, context)
    if opts.format == "llama2c" and opts.dtype ~= "fp32" then
      fail.usage("--dtype: a llama2.c checkpoint is fp32; use --format hf or gguf for " .. opts.dtype)
    end
    files.make_dir(opts.output)
    local paths = synthetic.write(opts.output)
    if opts.format ~= "llama2c" then
      local checkpoint = require "read.checkpoint"
      local convert = require "write.convert"
      local ckpt = checkpoint.open(paths.model)
      if opts.format == "hf" then
        convert.hf(context.native, ckpt, opts.output, opts.dtype)
        paths.model = opts.output
      else
        convert.gguf(context.native, ckpt, opts.output .. "/model.gguf", opts.dtype)
        paths.model = opts.output .. "/model.gguf"
      end
      os.remove(opts.output .. "/model.bin")
    end
    print(paths.model)
    print(paths.tokenizer)
    print(paths.text)
    return 0
  end,
}
