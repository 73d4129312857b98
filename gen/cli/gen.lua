-- kiln gen MODEL --qparams Q -o out/NAME: static C for every decoder layer,
-- the head and a model driver, from the layer graph, the qparams and the
-- weights, with the rules of a target.

local fail = require "util.fail"
local files = require "util.files"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local description = require "model.description"
local qparams_file = require "calib.qparams_file"
local targets = require "emit.targets"
local c_model = require "emit.c_model"

local verb = {
  summary = "generate static C for a calibrated model (layers, head, driver, runtime)",
  synopsis = "MODEL --qparams Q -o out/NAME [--target T] [--prefill-len S] [--append-len Q] [--max-seq M]",
  positional = { "MODEL" },
  options = {
    { "--qparams", key = "qparams", required = true, metavar = "FILE", help = "qparams.json from kiln calib" },
    { "-o", "--output", key = "output", required = true, metavar = "DIR", help = "output directory (replaced on success)" },
    { "--target", key = "target", default = "portable", metavar = "T", help = "rules/T.lua" },
    { "--prefill-len", key = "prefill_len", type = "integer", min = 1, metavar = "S", help = "static prefill block" },
    { "--append-len", key = "append_len", type = "integer", min = 1, metavar = "Q", help = "static append-prefill block" },
    { "--max-seq", key = "max_seq", type = "integer", min = 2, metavar = "M", help = "KV cache capacity" },
  },
}

-- Generates into a fresh directory beside the target and swaps it in, so a
-- failure leaves an existing output untouched.
local function write_tree(dir, tree)
  local parent = dir:match("^(.*)/[^/]+/*$") or "."
  files.make_dir(parent)
  local tmp = string.format("%s/.%s.kiln-tmp-%d", parent, files.basename(dir), math.random(1 << 30))
  local names = {}
  for name in pairs(tree) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local path = tmp .. "/" .. name
    files.make_dir(path:match("^(.*)/[^/]+$"))
    local f = assert(io.open(path, "wb"))
    f:write(tree[name])
    f:close()
  end
  local old = tmp .. ".old"
  if files.exists(dir .. "/.") or files.exists(dir) then
    assert(os.rename(dir, old))
  end
  local ok, err = os.rename(tmp, dir)
  if not ok then
    if files.exists(old) then os.rename(old, dir) end
    os.execute("rm -rf " .. files.quote(tmp))
    fail.raise(dir, nil, "cannot replace: " .. tostring(err))
  end
  os.execute("rm -rf " .. files.quote(old))
end

-- The description with the static shapes of this generation.
local function shapes(desc, opts)
  desc = description.with_static_shapes(desc)
  if opts.max_seq then
    if opts.max_seq > desc.max_seq then
      fail.usage(string.format("--max-seq: %d exceeds the model's %d", opts.max_seq, desc.max_seq))
    end
    desc.max_seq = opts.max_seq
    desc.prefill_len = math.min(desc.prefill_len, desc.max_seq)
    desc.append_len = math.min(desc.append_len, desc.max_seq)
  end
  desc.prefill_len = opts.prefill_len or desc.prefill_len
  desc.append_len = opts.append_len or desc.append_len
  for _, k in ipairs({ "prefill_len", "append_len" }) do
    if desc[k] > desc.max_seq then
      fail.usage(string.format("--%s: %d exceeds max_seq %d", k:gsub("_", "-"), desc[k], desc.max_seq))
    end
  end
  return desc
end

function verb.run(opts, context)
  local native = context.native
  local rules = targets.load(context.root, opts.target)
  local ckpt = checkpoint.open(opts.MODEL)
  local qp = qparams_file.read(opts.qparams, ckpt.description)
  local model = float_model.load(native, ckpt)
  local desc = {}
  for k, v in pairs(ckpt.description) do desc[k] = v end
  desc = shapes(desc, opts)
  local name = files.basename(opts.output)
  local tree, report = c_model.generate {
    root = context.root, native = native, model = model, qp = qp, desc = desc, rules = rules, name = name,
    prefill_len = desc.prefill_len, append_len = desc.append_len,
    source = { model = files.basename(opts.MODEL), qparams = files.basename(opts.qparams) },
  }
  write_tree(opts.output, tree)
  io.stderr:write(string.format(
    "kiln gen: %s for %s -> %s (weights %d B, constants %d B, arena %d B, KV cache %d B)\n",
    name, rules.name, opts.output, report.weights_bytes, report.constants_bytes, report.arena_bytes, report.kv_bytes))
end

return verb
