-- kiln gen MODEL --qparams Q -o out/NAME: static C for every decoder layer,
-- the head and a model driver, from the layer graph, the qparams and the
-- weights, with the rules of a target.

local generate = require "emit.generate"
local common = require "cli.common"

local verb = {
  summary = "generate static C for a calibrated model (layers, head, driver, runtime)",
  synopsis = "MODEL --qparams Q -o out/NAME [--target T] [--prefill-len S] [--append-len Q] [--max-seq M]",
  positional = { "MODEL" },
  options = common.options({
    { "--qparams", key = "qparams", required = true, metavar = "FILE", help = "qparams.json from kiln calib" },
    { "-o", "--output", key = "output", required = true, metavar = "DIR", help = "output directory (replaced on success)" },
    common.FORCE_OPTION,
    common.TARGET_OPTION,
    common.DTYPE_OPTION,
    common.ALLOW_OTHER_OPTION,
    { "--max-seq", key = "max_seq", type = "integer", min = 2, metavar = "M", help = "KV cache capacity" },
    { "--weights-blob", key = "blob", type = "flag", help = "weights as a binary blob (automatic above 4 MB)" },
  }, common.SHAPE_OPTIONS),
}

function verb.run(opts, context)
  local g = generate.run {
    root = context.root, native = context.native, model_path = opts.MODEL, dtype = opts.dtype,
    qparams_path = opts.qparams, allow_other_checkpoint = opts.allow_other_checkpoint,
    target = opts.target, prefill_len = opts.prefill_len, append_len = opts.append_len, max_seq = opts.max_seq,
    output = opts.output, blob = opts.blob, force = opts.force,
  }
  local r = g.report
  if #r.untied > 0 then
    io.stderr:write(string.format("kiln gen: note: %d KV cache observer pairs are untied (%s%s); the cached past is "
      .. "requantized on every read, as TICO's graph does, and prefill and decode no longer agree exactly\n",
      #r.untied, r.untied[1], #r.untied > 1 and ", ..." or ""))
  end
  io.stderr:write(string.format(
    "kiln gen: %s for %s -> %s (weights %d B, constants %d B, arena %d B, KV cache %d B)\n",
    r.name, g.rules.name, opts.output, r.weights_bytes, r.constants_bytes, r.arena_bytes, r.kv_bytes))
end

return verb
