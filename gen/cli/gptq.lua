-- kiln gptq MODEL --text FILE | --tokens FILE -o DIR: GPTQ every decoder
-- layer's Linear weights on their observers' grids (calib/algorithms/gptq.lua)
-- and write, as TICO's GPTQ leaves a model, the weights themselves on those
-- grids: a Hugging Face folder kiln reads like any other, plus gptq.json,
-- the grids that `kiln calib DIR --weights DIR/gptq.json` locks.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local progress = require "util.progress"
local common = require "cli.common"
local checkpoint = require "read.checkpoint"
local hf = require "read.hf"
local float_model = require "model.float_model"
local observers = require "calib.observers"
local gptq = require "calib.algorithms.gptq"
local gptq_file = require "calib.gptq_file"
local convert = require "write.convert"
local safetensors = require "write.safetensors"
local generate = require "emit.generate"
local recipe = require "calib.recipe"

local RECIPE_PRESET = {}
for k, v in pairs(common.PRESET_OPTION) do RECIPE_PRESET[k] = v end
RECIPE_PRESET.default, RECIPE_PRESET.unset_default = nil, common.PRESET_OPTION.default

local verb = {
  summary = "GPTQ the Linear weights on their grids; write them as a Hugging Face folder with gptq.json",
  synopsis = "MODEL [-z TOKENIZER] --text FILE | --tokens FILE -o DIR [options]",
  positional = { "MODEL" },
  options = common.options({
    { "-o", "--output", key = "output", required = true, metavar = "DIR", help = "the Hugging Face folder to write" },
    common.FORCE_OPTION,
    { "--recipe", key = "recipe", metavar = "R", help = "a calibration recipe with gptq = {...} (w4a16-gptq): its specs and settings" },
    { "--samples", key = "samples", type = "integer", min = 1, unset_default = 16, metavar = "N", help = "stories to take the Hessians from" },
    { "--max-tokens", key = "max_tokens", type = "integer", min = 2, metavar = "N",
      help = "tokens per sample, BOS included (default max_seq)" },
    { "--block", key = "block", type = "integer", min = 1, max = 1 << 24, unset_default = gptq.DEFAULTS.block, metavar = "B",
      help = "columns per lazy error update" },
    { "--damp", key = "damp", type = "number", min = 0, unset_default = gptq.DEFAULTS.damp, metavar = "F",
      help = "dampening, a fraction of the Hessian's mean diagonal" },
    { "--act-order", key = "act_order", type = "flag", help = "quantize columns in decreasing Hessian diagonal" },
    { "--mse", key = "mse", type = "flag", help = "each row's grid from the shrunk range that quantizes it best (TICO's mse)" },
    { "--lm-head", key = "lm_head", type = "flag", help = "GPTQ the classifier too (a model whose lm_head is not its embedding)" },
  }, { common.TOKENIZER_OPTION, common.SAMPLE_OPTIONS[1], common.SAMPLE_OPTIONS[2] },
    { RECIPE_PRESET, common.OVERRIDES_OPTION, common.DTYPE_OPTION }),
}

-- The options a recipe may set: its value, unless the command line gives one.
local function apply_recipe(opts, root)
  local defaults = { preset = "w8a16", samples = 16, block = gptq.DEFAULTS.block, damp = gptq.DEFAULTS.damp }
  local overrides = opts.overrides and observers.load_overrides(opts.overrides) or nil
  if opts.recipe then
    local r = recipe.load(root, opts.recipe)
    local f, g = r.fields, r.fields.gptq
    if not g then fail.raise(r.path, "gptq", "missing: this recipe does not ask for GPTQ") end
    for _, k in ipairs({ "block", "damp" }) do
      if g[k] ~= nil and type(g[k]) ~= "number" then fail.raise(r.path, "gptq." .. k, "must be a number") end
    end
    defaults.preset, defaults.samples = f.preset or defaults.preset, f.samples or defaults.samples
    defaults.block, defaults.damp = g.block or defaults.block, g.damp or defaults.damp
    if g.act_order then opts.act_order = true end
    if g.mse then opts.mse = true end
    overrides = overrides or f.overrides
  end
  for k, v in pairs(defaults) do
    if opts[k] == nil then opts[k] = v end
  end
  return overrides
end

-- The bytes of a GPTQ'd weight in dtype, or nil when dtype cannot hold its
-- values exactly; the values read back as kiln reads them (the graph's
-- prescale, the observer's grid) must give GPTQ's codes.
local function stored_bytes(r, dtype, desc)
  local t = r.values
  if dtype ~= "fp32" then
    t = t:converted(dtype)
    if t:converted("fp32"):bytes() ~= r.values:bytes() then return nil end
  end
  local prescale = r.entry.param.prescale
  local seen = prescale and t:scaled(float_model.prescale_factor(prescale, desc)) or t
  if seen:quantize(r.scale, r.zero_point, r.qmin, r.qmax, "s16") ~= r.codes then
    if dtype ~= "fp32" then return nil end
    error(r.entry.path .. ": the written weight does not read back to GPTQ's codes")
  end
  return t:bytes()
end

-- Each GPTQ'd weight's bytes in dtype, or nil when dtype cannot hold them all.
local function stored_in(results, dtype, desc)
  local replaced = {}
  for _, r in ipairs(results) do
    replaced[r.tensor] = stored_bytes(r, dtype, desc)
    if not replaced[r.tensor] then return nil end
  end
  return replaced
end

-- The dtype to write and each weight's bytes in it: the model's own when it
-- holds every grid value exactly, else float32.
local function stored_weights(results, desc)
  if desc.dtype == "fp16" or desc.dtype == "bf16" then
    local replaced = stored_in(results, desc.dtype, desc)
    if replaced then return desc.dtype, replaced end
  end
  return "fp32", stored_in(results, "fp32", desc)
end

local function settings_of(opts, source, token_lists, max_tokens, overrides)
  local tokens = 0
  for _, ids in ipairs(token_lists) do tokens = tokens + #ids end
  local s = json.object():set("tool", "kiln gptq"):set("profile", "npu_export"):set("preset", opts.preset)
  return common.record_source(s, source)
    :set("samples", opts.samples):set("max_tokens", max_tokens):set("tokens", tokens)
    :set("hessian", "2 X^T X / n over each Linear's inputs, in double; layers in order, each fed by the earlier layers quantized")
    :set("block", opts.block):set("damp", opts.damp):set("act_order", opts.act_order):set("mse", opts.mse)
    :set("grids", "per output row or per tensor (the observer's qscheme), no groups"):set("lm_head", opts.lm_head)
    :set("overrides", observers.record(overrides))
end

function verb.run(opts, context)
  generate.check_output(opts.output, opts.force)
  local native = context.native
  local overrides = apply_recipe(opts, context.root)
  local ckpt = checkpoint.open(opts.MODEL, opts.dtype)
  local desc = ckpt.description
  if opts.lm_head and desc.tied_embeddings then
    fail.usage("--lm-head: this model's classifier is its embedding table (tied), which GPTQ would change too")
  end
  local max_tokens = opts.max_tokens or desc.max_seq
  if max_tokens > desc.max_seq then
    fail.usage(string.format("--max-tokens: %d exceeds the model's max_seq %d", max_tokens, desc.max_seq))
  end
  local token_lists, total, source = common.samples(native, opts, desc, opts.samples, max_tokens)
  common.require_samples(total, opts.samples, source)
  local longest = 0
  for _, ids in ipairs(token_lists) do longest = math.max(longest, #ids) end
  local model = float_model.load(native, ckpt, { max_seq = longest })
  local specs = gptq.linear_specs(observers.resolve(desc.layers, opts.preset, overrides), opts.lm_head)

  local bar = progress.new(native, "gptq", desc.layers * #token_lists)
  local results = gptq.run(native, model, token_lists, specs,
    { block = opts.block, damp = opts.damp, act_order = opts.act_order, mse = opts.mse }, bar)
  bar:done()
  local dtype, replaced = stored_weights(results, desc)
  if dtype ~= desc.dtype then
    io.stderr:write(string.format("kiln gptq: %s cannot hold the grid values exactly; the weights are written as fp32\n",
      desc.dtype))
  end
  local entries, data, config = convert.hf_parts(native, ckpt, dtype, replaced)
  local tree = {
    ["config.json"] = config,
    [hf.SINGLE] = table.move(data, 1, #data, 2, { (safetensors.header(entries, { { "format", "pt" } })) }),
    ["gptq.json"] = gptq_file.encode({ file = files.basename(opts.MODEL), sha256 = checkpoint.sha256(ckpt), description = desc },
      dtype, settings_of(opts, source, token_lists, max_tokens, overrides), results),
  }
  local own_tokenizer = opts.MODEL:gsub("/+$", "") .. "/tokenizer.json"
  if hf.is_folder(opts.MODEL) and files.exists(own_tokenizer) then tree["tokenizer.json"] = files.read(own_tokenizer) end
  generate.write_tree(opts.output, tree, { force = opts.force })
  io.stderr:write(string.format("kiln gptq: %d Linear weights (%d layers%s), %d samples -> %s\n", #results, desc.layers,
    opts.lm_head and ", lm_head" or "", #token_lists, opts.output))
end

return verb
