-- kiln calib MODEL --text FILE | --tokens FILE -o qparams.json: calibrate
-- every quantization point of the layer graph on story text, TICO's way.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local progress = require "util.progress"
local common = require "cli.common"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local qparams_file = require "calib.qparams_file"

local verb = {
  summary = "calibrate every quantization point on story text and write qparams.json",
  synopsis = "MODEL [-z TOKENIZER] --text FILE | --tokens FILE -o qparams.json [options]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    common.SAMPLE_OPTIONS[1],
    common.SAMPLE_OPTIONS[2],
    { "-o", "--output", key = "output", required = true, metavar = "FILE", help = "qparams.json to write" },
    { "--preset", key = "preset", default = "w8a16", choices = { "w8a8", "w8a16" }, help = "TICO configuration" },
    { "--samples", key = "samples", type = "integer", min = 1, default = 16, metavar = "N", help = "stories to calibrate on" },
    { "--decode-steps", key = "decode_steps", type = "integer", min = 0, default = 8, metavar = "D",
      help = "greedy decode steps after each prefill" },
    { "--decode-source", key = "decode_source", default = "float", choices = { "float", "quantized", "none" },
      help = "decode steps after float prefills (TICO's), after quantized ones, or none" },
    { "--max-tokens", key = "max_tokens", type = "integer", min = 2, metavar = "N",
      help = "prefill tokens per sample, BOS included (default max_seq - decode steps)" },
    { "--overrides", key = "overrides", metavar = "FILE", help = "Lua table of per-observer dtype/qscheme overrides" },
    { "--untied-kv", key = "untied_kv", type = "flag", help = "keep TICO's independent KV cache observers" },
    common.DTYPE_OPTION,
    { "--weights", key = "weights", metavar = "FILE", help = "gptq.json of kiln gptq: lock its weight observers to its grids" },
  },
}

function verb.run(opts, context)
  local native = context.native
  local overrides = opts.overrides and observers.load_overrides(opts.overrides) or nil
  local ckpt = checkpoint.open(opts.MODEL, opts.dtype)
  local max_seq = ckpt.description.max_seq
  local max_tokens = opts.max_tokens or (max_seq - opts.decode_steps)
  if max_tokens < 2 or max_tokens > max_seq then
    fail.usage(string.format("--max-tokens: %d does not fit the model's max_seq %d", max_tokens, max_seq))
  end
  local token_lists, total, source = common.samples(native, opts, ckpt.description, opts.samples, max_tokens)
  if total < opts.samples then
    local what = source.option == "text" and "stories" or "samples"
    fail.raise(source.path, what, string.format("has %d %s, fewer than --samples %d", total, what, opts.samples))
  end
  -- the executor's buffers for the longest sample only, not the model's whole context
  local model = float_model.load(native, ckpt, { max_seq = math.min(max_seq, max_tokens + opts.decode_steps) })
  local desc = model.desc
  local entries = observers.resolve(desc.layers, opts.preset, overrides)

  local passes = opts.decode_source == "quantized" and opts.decode_steps > 0 and 2 or 1
  local bar = progress.new(native, "calibrating", passes * #token_lists)
  local did = calibrate.run(native, model, entries, function() return observers.resolve(desc.layers, opts.preset, overrides) end,
    token_lists, { decode_source = opts.decode_source, decode_steps = opts.decode_steps, untied = opts.untied_kv }, bar)
  bar:done()
  local prefill_tokens, decode_tokens = did.prefill_tokens, did.decode_tokens
  if #did.past_from_present > 0 then
    io.stderr:write(string.format("kiln calib: %d past_key/past_value observers saw no decode step; each takes its "
      .. "present_key/present_value range\n", #did.past_from_present))
  end

  local settings = json.object()
    :set("tool", "kiln calib")
    :set("profile", "npu_export")
    :set("preset", opts.preset)
    :set("observer", "minmax")
    :set(source.option, files.basename(source.path))
    :set(source.option .. "_sha256", files.sha256(source.path))
  if source.tokenizer then
    settings:set("tokenizer", files.basename(source.tokenizer)):set("tokenizer_sha256", files.sha256(source.tokenizer))
  end
  settings:set("samples", opts.samples)
    :set("max_tokens", max_tokens)
    :set("decode_steps", opts.decode_steps)
    :set("decode_source", calibrate.RECORDED_SOURCE[opts.decode_source])
    :set("prefill_tokens", prefill_tokens)
    :set("decode_tokens", decode_tokens)
  if #did.past_from_present > 0 then settings:set("past_from_present", #did.past_from_present) end
  settings:set("kv_cache", opts.untied_kv and "untied" or "tied")
  if overrides then
    local o = json.object()
    for _, item in ipairs(overrides.list) do
      o:set(item.key, json.object():set("dtype", item.dtype):set("qscheme", item.qscheme or json.null))
    end
    settings:set("overrides", o)
  else
    settings:set("overrides", json.null)
  end
  if opts.weights then -- kiln gptq's grids: the weights it wrote stay on them (TICO's load_qparams(lock=True))
    local locked = require("calib.gptq_file").lock(native, opts.weights, entries, model)
    settings:set("weights", files.basename(opts.weights)):set("weights_sha256", files.sha256(opts.weights))
    io.stderr:write(string.format("kiln calib: %d weight observers locked to %s\n", locked, opts.weights))
  end
  local text = qparams_file.encode(
    { file = files.basename(opts.MODEL), sha256 = checkpoint.sha256(ckpt), description = desc },
    settings, entries)
  files.write_atomic(opts.output, text)
  io.stderr:write(string.format("kiln calib: %d observers (model level, %d layers, head), %d prefill + %d decode tokens -> %s\n",
    #entries, desc.layers, prefill_tokens, decode_tokens, opts.output))
end

return verb
