-- The whole of `kiln gen` as a function, for the verbs that generate on the
-- way (eval, run and ppl with --qparams): read the model and the qparams,
-- plan and emit for a target, and swap the tree into place.

local fail = require "util.fail"
local files = require "util.files"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local description = require "model.description"
local qparams_file = require "calib.qparams_file"
local targets = require "emit.targets"
local c_model = require "emit.c_model"
local template = require "emit.template"

local generate = {}

-- Models whose weights pass this many bytes get them as a binary blob
-- (weights.bin) rather than C arrays, which compilers digest slowly.
generate.BLOB_BYTES = 4 * 1024 * 1024

-- Weight elements of a model (linear layers, the classifier and the embedding).
local function weight_count(desc)
  local D, I, kv = desc.hidden, desc.intermediate, desc.kv_heads * desc.head_dim
  local per_layer = D * desc.heads * desc.head_dim * 2 + 2 * D * kv + 3 * D * I
  return desc.layers * per_layer + 2 * desc.vocab * D
end

-- The file kiln writes into every tree it generates: a directory without it
-- is not kiln's to replace (unless --force).
generate.MARKER = ".kiln-output"

-- Names an output directory may have: they are pasted into the generated
-- Makefile and C comments, so nothing a shell or make would read.
local NAME_PATTERN = "^[%w._-]+$"

-- Refuses, before anything is written, an output kiln cannot replace as a
-- whole: '.', '..', '/' or '', a name with characters outside NAME_PATTERN,
-- an existing file, or an existing directory without generate.MARKER
-- (unless force).
function generate.check_output(dir, force)
  local last = dir:gsub("/+$", ""):match("([^/]*)$")
  if last == "" or last == "." or last == ".." then
    fail.usage("-o: '" .. dir .. "' is not a directory kiln can replace as a whole; name a new one (out/NAME)")
  end
  if not last:match(NAME_PATTERN) then
    fail.usage("-o: the name " .. files.quoted(last) .. " has characters other than letters, digits, '.', '_' and '-'")
  end
  if files.exists(dir) then
    if not files.is_dir(dir) then fail.raise(dir, nil, "exists and is not a directory; kiln replaces only its own") end
    if not force and not files.exists(dir .. "/" .. generate.MARKER) then
      fail.raise(dir, nil, "exists and is not a kiln output (no " .. generate.MARKER .. "); --force replaces it")
    end
  end
  return last
end

-- Generates into a fresh directory beside the target and swaps it in, so a
-- failure leaves an existing output untouched. A file's content is a string
-- or a list of strings written one after another. opts.force: replace a
-- directory that is not a kiln output.
function generate.write_tree(dir, tree, opts)
  local name = generate.check_output(dir, opts and opts.force)
  dir = dir:gsub("/+$", "")
  local parent = dir:match("^(.*)/[^/]+$") or "."
  if parent == "" then parent = "/" end
  files.make_dir(parent)
  -- a killed run's tree is removed, but its .old put back when dir itself is
  -- missing (the run died between its two renames)
  local tmp = files.temp_beside(dir, function(stale)
    if stale:match("%.old$") and not files.exists(dir) then
      os.rename(stale, dir)
    else
      os.execute("rm -rf -- " .. files.quote(stale))
    end
  end)
  local names = { generate.MARKER }
  for file in pairs(tree) do names[#names + 1] = file end
  table.sort(names)
  local function write_file(file)
    local path = tmp .. "/" .. file
    local made, merr = fail.catch(files.make_dir, path:match("^(.*)/[^/]+$"))
    if not made then return tostring(merr.message) end
    local f, err = io.open(path, "wb")
    if not f then return err end
    local content = tree[file] or "kiln output: replaced as a whole by the next kiln run with this -o\n"
    for _, part in ipairs(type(content) == "table" and content or { content }) do
      local ok, werr = f:write(part)
      if not ok then f:close(); return werr end
    end
    local ok, cerr = f:close()
    if not ok then return cerr end
  end
  local werr
  for _, file in ipairs(names) do
    werr = write_file(file)
    if werr then break end
  end
  if werr then -- a full disk or a file-size limit: nothing of the new tree stays
    os.execute("rm -rf -- " .. files.quote(tmp))
    fail.raise(dir, nil, "cannot write: " .. tostring(werr):gsub("^[^:]*: ", ""))
  end
  local old = tmp .. ".old"
  local had_old = files.exists(dir)
  if had_old and not os.rename(dir, old) then
    os.execute("rm -rf -- " .. files.quote(tmp))
    fail.raise(dir, nil, "cannot move the existing directory aside")
  end
  local ok, err = os.rename(tmp, dir)
  if not ok then
    if had_old then os.rename(old, dir) end
    os.execute("rm -rf -- " .. files.quote(tmp))
    fail.raise(dir, nil, "cannot replace: " .. tostring(err):gsub("^[^:]*: ", ""))
  end
  if had_old then os.execute("rm -rf -- " .. files.quote(old)) end
end

-- The description with the static shapes of this generation.
function generate.shapes(desc, opts)
  local d = {}
  for k, v in pairs(desc) do d[k] = v end
  d = description.with_static_shapes(d)
  if opts.max_seq then
    if opts.max_seq > d.max_seq then
      fail.usage(string.format("--max-seq: %d exceeds the model's %d", opts.max_seq, d.max_seq))
    end
    d.max_seq = opts.max_seq
    d.prefill_len = math.min(d.prefill_len, d.max_seq)
    d.append_len = math.min(d.append_len, d.max_seq)
  end
  d.prefill_len = opts.prefill_len or d.prefill_len
  d.append_len = opts.append_len or d.append_len
  for _, k in ipairs({ "prefill_len", "append_len" }) do
    if d[k] > d.max_seq then
      fail.usage(string.format("--%s: %d exceeds max_seq %d", k:gsub("_", "-"), d[k], d.max_seq))
    end
  end
  return d
end

-- run{ root, native, model_path, dtype, qparams_path, target, prefill_len, append_len,
-- max_seq, output, trace, keep_model, blob, layer_input_grids, allow_other_checkpoint }
-- -> { report, desc, qp, model, rules, output, other_checkpoint }
-- dtype: --dtype, or nil for the checkpoint's own
-- blob: weights as weights.bin even when the model is small
-- allow_other_checkpoint: qparams whose model.sha256 is another checkpoint's
-- are used (and the generated header says so) instead of refused
-- keep_model: also build the float model (the verbs that measure against it)
-- trace: emit a kiln_trace() call after every step (evaluation builds only)
function generate.run(o)
  generate.check_output(o.output, o.force) -- before the work, not after it
  local rules = targets.load(o.root, o.target or "portable")
  local ckpt = checkpoint.open(o.model_path, o.dtype)
  local qp = qparams_file.read(o.qparams_path, ckpt.description, true)
  local other = qparams_file.check_checkpoint(qp, function() return checkpoint.sha256(ckpt) end, o.allow_other_checkpoint,
    function(name) return checkpoint.file_sha256(ckpt, name) end)
  if other then io.stderr:write("kiln: note: ", o.qparams_path, ": ", other, "\n") end
  local model = float_model.load(o.native, ckpt, { weights_only = not o.keep_model, smoothing = qp.smoothing })
  local desc = generate.shapes(ckpt.description, o)
  local name = files.basename(o.output)
  local tree, report = c_model.generate {
    root = o.root, native = o.native, model = model, qp = qp, desc = desc, rules = rules, name = name,
    prefill_len = desc.prefill_len, append_len = desc.append_len,
    source = { model = files.display_name(files.basename(o.model_path)),
      qparams = files.display_name(files.basename(o.qparams_path)) .. (other and (" (" .. other .. ")") or "") },
    trace = o.trace, layer_input_grids = o.layer_input_grids,
    blob = o.blob or weight_count(desc) > generate.BLOB_BYTES,
  }
  -- for review (kiln diff, git diff): the qparams as given, and the weights' textconv driver
  tree["qparams.json"] = qp.text
  tree[".gitattributes"] = template.file(o.root, "tree.gitattributes", {})
  generate.write_tree(o.output, tree, { force = o.force })
  return { report = report, desc = desc, qp = qp, model = model, rules = rules, output = o.output,
    other_checkpoint = other }
end

-- memory(o) -> { flash = { constants, weights }, ram = { arena, kv } } in
-- bytes: what `kiln gen` would report for the qparams o.qp ({ observers, smoothing },
-- as read or as calibrated) on o.model (loaded with those weights), for
-- o.target (default portable), without writing anything.
function generate.memory(o)
  local rules = targets.load(o.root, o.target or "portable")
  local desc = generate.shapes(o.model.desc, {})
  local _, vars = c_model.generate {
    root = o.root, native = o.native, model = o.model, qp = o.qp, desc = desc, rules = rules, name = "memory",
    prefill_len = desc.prefill_len, append_len = desc.append_len, source = { model = "-", qparams = "-" },
    blob = true, measure_only = true,
  }
  return { constants = vars.constants_bytes, weights = vars.weights_bytes, arena = vars.arena_bytes, kv = vars.kv_bytes }
end

return generate
