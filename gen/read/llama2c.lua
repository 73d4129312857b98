-- Reader for llama2.c checkpoints, legacy (version 0) format.
--
-- The file is a header of seven int32 (dim, hidden_dim, n_layers, n_heads,
-- n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier
-- is stored separately) followed by fp32 tensors in a fixed order. The reader
-- checks the header and the file size against each other, and names the
-- tensors the way TICO and Hugging Face do (model.layers.N.self_attn.q_proj.weight).
--
-- llama2.c orders each head's q/k rows for RoPE on adjacent pairs; kiln's one
-- convention is TICO's rotate-half, so load() permutes those rows per head.

local fail = require "util.fail"

local llama2c = {}

local HEADER_BYTES = 28
local FLOAT_BYTES = 4
local LIMIT = 1 << 24 -- no plausible dimension is larger; keeps sizes from overflowing

local HEADER_FIELDS = { "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len" }

-- Tensor table in file order: name (with %d for the layer), shape; h is the
-- header plus vocab (its absolute value) and shared_classifier.
function llama2c.layout(h)
  local hd = h.dim // h.n_heads
  local kv = h.n_kv_heads * hd
  local per_layer = function(name, rows, cols)
    return { name = name, rows = rows, cols = cols, per_layer = true }
  end
  local list = {
    { name = "model.embed_tokens.weight", rows = h.vocab, cols = h.dim },
    per_layer("model.layers.%d.input_layernorm.weight", 1, h.dim),
    per_layer("model.layers.%d.self_attn.q_proj.weight", h.n_heads * hd, h.dim),
    per_layer("model.layers.%d.self_attn.k_proj.weight", kv, h.dim),
    per_layer("model.layers.%d.self_attn.v_proj.weight", kv, h.dim),
    per_layer("model.layers.%d.self_attn.o_proj.weight", h.dim, h.n_heads * hd),
    per_layer("model.layers.%d.post_attention_layernorm.weight", 1, h.dim),
    per_layer("model.layers.%d.mlp.gate_proj.weight", h.hidden_dim, h.dim),
    per_layer("model.layers.%d.mlp.down_proj.weight", h.dim, h.hidden_dim),
    per_layer("model.layers.%d.mlp.up_proj.weight", h.hidden_dim, h.dim),
    { name = "model.norm.weight", rows = 1, cols = h.dim },
    -- RoPE tables run.c no longer reads; skipped, but part of the size.
    { name = "freq_cis_real", rows = h.seq_len, cols = hd // 2, unused = true },
    { name = "freq_cis_imag", rows = h.seq_len, cols = hd // 2, unused = true },
  }
  if not h.shared_classifier then
    list[#list + 1] = { name = "lm_head.weight", rows = h.vocab, cols = h.dim }
  end
  return list
end

-- The tables kiln skips must still be numbers: a NaN or an infinity there
-- means the file is not what its header says (or was damaged), so it is
-- refused like one in a weight. A float32 is not finite when its exponent
-- bits are all ones.
local function check_unused(path, t)
  local f = assert(io.open(path, "rb"))
  f:seek("set", t.offset)
  local bytes = f:read(t.count * FLOAT_BYTES) or ""
  f:close()
  for i = 1, #bytes - 3, FLOAT_BYTES do
    local u = string.unpack("<I4", bytes, i)
    if u & 0x7f800000 == 0x7f800000 then
      fail.raise(path, t.name, string.format("element %d is %s (a table kiln does not use, but a checkpoint holds "
        .. "numbers there)", (i - 1) // FLOAT_BYTES, u & 0x007fffff ~= 0 and "nan" or "inf"))
    end
  end
end

local function file_size(f)
  local size = f:seek("end")
  f:seek("set", 0)
  return size
end

-- open(path) -> checkpoint: { path, header, tensors = {name -> {offset, rows, cols}},
-- description = layer description table }. Raises a one-line failure on any
-- inconsistency.
function llama2c.open(path)
  local f, err = io.open(path, "rb")
  if not f then fail.raise(path, nil, "cannot open: " .. (err or "?"):gsub("^[^:]*: ", "")) end
  local size = file_size(f)
  local head = f:read(HEADER_BYTES) or ""
  f:close()
  if #head < HEADER_BYTES then
    fail.raise(path, "header", string.format("file is %d bytes, shorter than the %d-byte llama2.c header", size, HEADER_BYTES))
  end
  if head:sub(1, 4) == "ak42" then
    local version = string.unpack("<i4", head, 5)
    fail.raise(path, "header", string.format(
      "llama2.c version %d export (magic ak42) is not supported; export the legacy format (version 0)", version))
  end
  local values = { string.unpack("<i4i4i4i4i4i4i4", head) }
  local h = {}
  for i, name in ipairs(HEADER_FIELDS) do h[name] = values[i] end

  local function check(field, ok, message)
    if not ok then fail.raise(path, field, message) end
  end
  for _, name in ipairs(HEADER_FIELDS) do
    local v = h[name]
    if name == "vocab_size" then v = math.abs(v) end
    check(name, v > 0, "must be positive, got " .. h[name])
    check(name, v < LIMIT, h[name] .. " is not a plausible size")
  end
  check("n_kv_heads", h.n_heads % h.n_kv_heads == 0,
    string.format("%d does not divide n_heads %d", h.n_kv_heads, h.n_heads))
  check("n_heads", h.dim % h.n_heads == 0, string.format("%d does not divide dim %d", h.n_heads, h.dim))
  check("dim", (h.dim // h.n_heads) % 2 == 0,
    string.format("head size %d (dim / n_heads) must be even for RoPE", h.dim // h.n_heads))
  h.shared_classifier = h.vocab_size > 0
  h.vocab = math.abs(h.vocab_size)

  -- the size the header implies, checked before the tensor table is made (a
  -- hostile n_layers would make that huge)
  local layout = llama2c.layout(h)
  local needed = HEADER_BYTES
  for _, t in ipairs(layout) do
    needed = needed + t.rows * t.cols * FLOAT_BYTES * (t.per_layer and h.n_layers or 1)
  end
  local dims = string.format("dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d",
    h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len)
  if size < needed then
    fail.raise(path, "size", string.format("truncated: %d bytes, but the header (%s) needs %d", size, dims, needed))
  elseif size > needed then
    fail.raise(path, "size", string.format("%d bytes, but the header (%s) needs %d: %d unexpected trailing bytes",
      size, dims, needed, size - needed))
  end

  local tensors, order, unused = {}, {}, {}
  local offset = HEADER_BYTES
  for _, t in ipairs(layout) do
    local count = t.rows * t.cols
    for l = 0, (t.per_layer and h.n_layers - 1 or 0) do
      local name = t.per_layer and string.format(t.name, l) or t.name
      if not t.unused then
        tensors[name] = { offset = offset, rows = t.rows, cols = t.cols, count = count }
        order[#order + 1] = name
      else
        unused[#unused + 1] = { name = name, offset = offset, count = count }
      end
      offset = offset + count * FLOAT_BYTES
    end
  end
  if h.shared_classifier then tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"] end

  for _, t in ipairs(unused) do check_unused(path, t) end

  local hd = h.dim // h.n_heads
  local ckpt = {
    path = path,
    header = h,
    tensors = tensors,
    order = order,
    description = {
      arch = "llama",
      hidden = h.dim,
      intermediate = h.hidden_dim,
      heads = h.n_heads,
      kv_heads = h.n_kv_heads,
      head_dim = hd,
      layers = h.n_layers,
      vocab = h.vocab,
      rms_eps = 1e-5, -- llama2.c's fixed epsilon
      rope_theta = 10000.0,
      max_seq = h.seq_len,
      tied_embeddings = h.shared_classifier,
      bos_id = 1, -- run.c's
      eos_id = 2,
      dtype = "fp32",
      weights = { format = "llama2c", file = path, bytes = size },
    },
  }
  return setmetatable(ckpt, { __index = llama2c })
end

-- ckpt:load(native, name) -> native Tensor of the named weight, in kiln's
-- conventions (q/k rows in rotate-half order). Refuses NaN or infinity.
function llama2c.load(ckpt, native, name)
  local t = ckpt.tensors[name]
  if not t then fail.raise(ckpt.path, name, "no such tensor in a llama2.c checkpoint") end
  local tensor, err = native.map_tensor(ckpt.path, t.offset, t.count, "fp32")
  if not tensor then fail.raise(ckpt.path, name, err) end
  local bad = tensor:first_nonfinite()
  if bad then
    fail.raise(ckpt.path, name, string.format("element %d is %s", bad - 1, tostring(tensor:get(bad))))
  end
  local h = ckpt.header
  if name:match("%.q_proj%.weight$") then
    tensor = tensor:rope_rows_to_halves(h.n_heads, h.dim // h.n_heads)
  elseif name:match("%.k_proj%.weight$") then
    tensor = tensor:rope_rows_to_halves(h.n_kv_heads, h.dim // h.n_heads)
  end
  return tensor
end

return llama2c
