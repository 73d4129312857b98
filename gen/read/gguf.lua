-- Reader for GGUF files (ggml's format, v2 and v3) of the llama architecture.
--
-- Layout: "GGUF", version u32, tensor count u64, metadata count u64; the
-- metadata (key string, value type u32, value); the tensor infos (name,
-- n_dims u32, dims u64 from the fastest, ggml type u32, offset u64 into the
-- data); then, at the next multiple of general.alignment, the data. Strings
-- are a u64 length and bytes. Every count and length is bounded by what the
-- file can hold, every tensor's data must lie inside the file, aligned.
--
-- Tensors: F32, F16 and BF16 are mapped in their dtype; Q8_0 (blocks of 32
-- int8 codes with an fp16 scale) is dequantized to float32 when read. GGUF
-- keeps q/k rows in adjacent-pair RoPE order (like llama2.c): load() permutes
-- them per head into kiln's rotate-half order.

local fail = require "util.fail"
local hf = require "read.hf"
local fields = require "read.fields"

local gguf = {}

local MAX_COUNT = 1 << 24  -- tensors, metadata entries, array elements, dims
local MAX_STRING = 1 << 24 -- bytes of one string
local LIMIT = 1 << 24      -- no plausible dimension is larger (GGUF dims are u64)

-- ggml tensor types kiln reads: its dtype, bytes per block, values per block.
gguf.TYPES = {
  [0] = { name = "F32", dtype = "fp32", block = 1, bytes = 4 },
  [1] = { name = "F16", dtype = "fp16", block = 1, bytes = 2 },
  [30] = { name = "BF16", dtype = "bf16", block = 1, bytes = 2 },
  [8] = { name = "Q8_0", dtype = "fp32", block = 32, bytes = 34, dequantize = "q8_0" },
}

-- GGUF value types: the unpack format of the scalars.
local SCALARS = {
  [0] = "<I1", [1] = "<i1", [2] = "<I2", [3] = "<i2", [4] = "<I4", [5] = "<i4", [6] = "<f",
  [7] = "<I1", [10] = "<I8", [11] = "<i8", [12] = "<d",
}
local STRING, ARRAY, BOOL = 8, 9, 7

-- A cursor over the file that reads it in blocks (the metadata of a real
-- model is megabytes of token strings).
local Cursor = {}
Cursor.__index = Cursor

local BLOCK = 1 << 20

local function cursor(path, f, size)
  return setmetatable({ path = path, f = f, size = size, pos = 0, buf = "", buf_at = 0 }, Cursor)
end

function Cursor:fail(field, message)
  self.f:close()
  fail.raise(self.path, field, message)
end

-- n bytes from the current position.
function Cursor:bytes(n, field)
  if n > self.size - self.pos then self:fail(field, "file ends inside it (truncated)") end
  local from = self.pos - self.buf_at
  if from + n > #self.buf then
    self.f:seek("set", self.pos)
    self.buf = self.f:read(math.max(n, BLOCK)) or ""
    self.buf_at, from = self.pos, 0
    if #self.buf < n then self:fail(field, "file ends inside it (truncated)") end
  end
  self.pos = self.pos + n
  return self.buf:sub(from + 1, from + n)
end

function Cursor:scalar(kind, field)
  local fmt = SCALARS[kind]
  local v = string.unpack(fmt, self:bytes(string.packsize(fmt), field))
  if kind == BOOL then
    if v > 1 then self:fail(field, "bool value " .. v) end
    return v == 1
  end
  return v
end

function Cursor:u32(field) return self:scalar(4, field) end

function Cursor:u64(field)
  local v = self:scalar(10, field)
  if v < 0 then self:fail(field, "count beyond 2^63") end -- Lua integers are signed
  return v
end

function Cursor:string(field)
  local n = self:u64(field)
  if n > MAX_STRING then self:fail(field, string.format("string of %d bytes is longer than %d", n, MAX_STRING)) end
  return self:bytes(n, field)
end

function Cursor:value(kind, field)
  if kind == STRING then return self:string(field) end
  if SCALARS[kind] then return self:scalar(kind, field) end
  if kind == ARRAY then
    local elem, n = self:u32(field), self:u64(field)
    if elem == ARRAY then self:fail(field, "arrays of arrays are not supported") end
    if n > MAX_COUNT or n > self.size - self.pos then self:fail(field, "array of " .. n .. " elements is too long") end
    local list = {}
    for i = 1, n do list[i] = self:value(elem, field) end
    return list
  end
  self:fail(field, "unknown value type " .. kind)
end

-- GGUF tensor names of the llama architecture -> kiln's (HF's) names.
local LAYER_NAMES = {
  attn_norm = "input_layernorm.weight",
  attn_q = "self_attn.q_proj.weight",
  attn_k = "self_attn.k_proj.weight",
  attn_v = "self_attn.v_proj.weight",
  attn_output = "self_attn.o_proj.weight",
  ffn_norm = "post_attention_layernorm.weight",
  ffn_gate = "mlp.gate_proj.weight",
  ffn_up = "mlp.up_proj.weight",
  ffn_down = "mlp.down_proj.weight",
}
local MODEL_NAMES = { token_embd = "model.embed_tokens.weight", output_norm = "model.norm.weight", output = "lm_head.weight" }

local function kiln_name(name)
  local l, part = name:match("^blk%.(%d+)%.([%w_]+)%.weight$")
  if l and LAYER_NAMES[part] then return string.format("model.layers.%d.%s", tonumber(l), LAYER_NAMES[part]) end
  local top = name:match("^([%w_]+)%.weight$")
  return top and MODEL_NAMES[top] or nil
end

-- open(path) -> checkpoint: { path, description, tensors = { kiln name -> {offset, count, dtype, type, shape} },
-- metadata, load(native, name) }.
function gguf.open(path)
  local f, err = io.open(path, "rb")
  if not f then fail.raise(path, nil, "cannot open: " .. (err or "?"):gsub("^[^:]*: ", "")) end
  local size = f:seek("end")
  local c = cursor(path, f, size)
  if c:bytes(4, "magic") ~= "GGUF" then c:fail("magic", "not a GGUF file") end
  local version = c:u32("version")
  if version ~= 2 and version ~= 3 then c:fail("version", version .. " is not supported (2, 3)") end
  local n_tensors, n_meta = c:u64("tensor_count"), c:u64("metadata_kv_count")
  if n_tensors > MAX_COUNT or n_meta > MAX_COUNT then c:fail("header", "implausible tensor or metadata count") end

  local meta = {}
  for _ = 1, n_meta do
    local key = c:string("metadata key")
    if meta[key] ~= nil then c:fail(key, "appears twice in the metadata") end
    meta[key] = c:value(c:u32(key), key)
  end
  local infos = {}
  for _ = 1, n_tensors do
    local name = c:string("tensor name")
    local n_dims = c:u32(name)
    if n_dims < 1 or n_dims > 4 then c:fail(name, n_dims .. " dimensions (1 to 4)") end
    local dims, count = {}, 1
    for d = 1, n_dims do
      dims[d] = c:u64(name)
      if dims[d] < 1 or dims[d] >= LIMIT then c:fail(name, "dimension " .. dims[d] .. " is not a size") end
      count = count * dims[d]
      if count > size then c:fail(name, "is larger than the file") end
    end
    local kind = c:u32(name)
    local offset = c:u64(name)
    infos[#infos + 1] = { gguf_name = name, dims = dims, count = count, kind = kind, rel = offset }
  end
  local header_end = c.pos
  f:close()

  local alignment = meta["general.alignment"] or 32
  if math.type(alignment) ~= "integer" or alignment < 1 or alignment > (1 << 16) or alignment & (alignment - 1) ~= 0 then
    fail.raise(path, "general.alignment", tostring(alignment) .. " is not a power of two up to 65536")
  end
  local data_start = (header_end + alignment - 1) // alignment * alignment
  if meta["general.architecture"] ~= "llama" then
    fail.raise(path, "general.architecture", string.format("%s is not supported (llama)", tostring(meta["general.architecture"])))
  end

  local tensors, seen = {}, {}
  for _, t in ipairs(infos) do
    local name = t.gguf_name
    if seen[name] then fail.raise(path, name, "appears twice among the tensors") end
    seen[name] = true
    local ty = gguf.TYPES[t.kind]
    if not ty then fail.raise(path, name, "ggml type " .. t.kind .. " is not supported (F32, F16, BF16, Q8_0)") end
    if t.dims[1] % ty.block ~= 0 then
      fail.raise(path, name, string.format("%s rows of %d values are not whole blocks of %d", ty.name, t.dims[1], ty.block))
    end
    if t.rel % alignment ~= 0 then fail.raise(path, name, string.format("offset %d is not aligned to %d", t.rel, alignment)) end
    local bytes = t.count // ty.block * ty.bytes
    if data_start + t.rel + bytes > size then
      fail.raise(path, name, string.format("data [%d, %d) lies beyond the end of the file (%d bytes)",
        data_start + t.rel, data_start + t.rel + bytes, size))
    end
    local kname = kiln_name(name)
    if not kname then fail.raise(path, name, "is not a tensor of a llama model") end
    local shape = {}
    for d = #t.dims, 1, -1 do shape[#shape + 1] = t.dims[d] end -- slowest first, as HF writes shapes
    tensors[kname] = { name = kname, gguf_name = name, offset = data_start + t.rel, count = t.count,
      dtype = ty.dtype, type = ty, shape = shape, bytes = bytes }
  end

  -- the description, checked against the tensors as the HF reader checks config.json
  local heads, kv_heads, head_dim, hidden = fields.heads(path, meta, { heads = "llama.attention.head_count",
    kv_heads = "llama.attention.head_count_kv", head_dim = "llama.attention.key_length",
    hidden = "llama.embedding_length" })
  if fields.size(path, meta, "llama.attention.value_length", head_dim) ~= head_dim then
    fail.raise(path, "llama.attention.value_length", "differs from key_length")
  end
  if fields.size(path, meta, "llama.rope.dimension_count", head_dim) ~= head_dim then
    fail.raise(path, "llama.rope.dimension_count", "partial RoPE (fewer dimensions than head_dim) is not supported")
  end
  local scaling = meta["llama.rope.scaling.type"]
  local rope_scaling
  if scaling == "linear" then
    rope_scaling = { type = "linear", factor = fields.number(path, meta, "llama.rope.scaling.factor") }
  elseif scaling ~= nil and scaling ~= "none" then
    fail.raise(path, "llama.rope.scaling.type", string.format("%s is not supported (none, linear)", tostring(scaling)))
  end
  if seen["rope_freqs.weight"] then fail.raise(path, "rope_freqs.weight", "llama3-style RoPE frequencies are not supported in GGUF yet") end
  local embed = tensors["model.embed_tokens.weight"]
  if not embed then fail.raise(path, "token_embd.weight", "missing") end
  local vocab = fields.size(path, meta, "llama.vocab_size", embed.shape[1])
  local tokens = meta["tokenizer.ggml.tokens"]
  if tokens ~= nil and (type(tokens) ~= "table" or #tokens ~= vocab) then
    fail.raise(path, "tokenizer.ggml.tokens", string.format("%d tokens, but the vocabulary has %d",
      type(tokens) == "table" and #tokens or 0, vocab))
  end
  local desc = {
    arch = "llama",
    hidden = hidden,
    intermediate = fields.size(path, meta, "llama.feed_forward_length"),
    heads = heads,
    kv_heads = kv_heads,
    head_dim = head_dim,
    layers = fields.size(path, meta, "llama.block_count"),
    vocab = vocab,
    rms_eps = fields.number(path, meta, "llama.attention.layer_norm_rms_epsilon"),
    rope_theta = fields.number(path, meta, "llama.rope.freq_base", 10000.0),
    rope_scaling = rope_scaling,
    max_seq = fields.size(path, meta, "llama.context_length"),
    tied_embeddings = tensors["lm_head.weight"] == nil,
    bos_id = fields.token_id(path, meta, "tokenizer.ggml.bos_token_id"),
    eos_id = fields.token_id(path, meta, "tokenizer.ggml.eos_token_id"),
  }
  hf.check_layer_count(path, "llama.block_count", desc.layers, tensors)
  local expected = hf.expected_tensors(desc)
  local stored = hf.check_shapes(expected, tensors, function(t, name)
    return path, t and t.gguf_name or name
  end, "the metadata")
  if desc.tied_embeddings then tensors["lm_head.weight"] = embed end
  desc.dtype = stored
  local types, seen_type = {}, {}
  for _, t in ipairs(infos) do
    local name = gguf.TYPES[t.kind].name
    if not seen_type[name] then types[#types + 1] = name end
    seen_type[name] = true
  end
  table.sort(types)
  desc.weights = { format = "gguf", file = path, bytes = size, version = version, types = table.concat(types, ", ") }
  local ckpt = { path = path, description = desc, tensors = tensors, metadata = meta }
  return setmetatable(ckpt, { __index = gguf })
end

-- ckpt:load(native, name) -> native Tensor of the named weight, in kiln's
-- conventions (q/k rows in rotate-half order). Refuses NaN or infinity.
function gguf.load(ckpt, native, name)
  local t = ckpt.tensors[name]
  if not t then fail.raise(ckpt.path, name, "no such tensor in the model") end
  local tensor, err
  if t.type.dequantize == "q8_0" then
    tensor, err = native.dequantize_q8_0(ckpt.path, t.offset, t.count)
  else
    tensor, err = native.map_tensor(ckpt.path, t.offset, t.count, t.dtype)
  end
  if not tensor then fail.raise(ckpt.path, t.gguf_name, err) end
  local bad = tensor:first_nonfinite()
  if bad then
    fail.raise(ckpt.path, t.gguf_name, string.format("element %d is %s", bad - 1, hf.nonfinite_name(tensor:get(bad))))
  end
  local d = ckpt.description
  if name:match("%.q_proj%.weight$") then
    tensor = tensor:rope_rows_to_halves(d.heads, d.head_dim)
  elseif name:match("%.k_proj%.weight$") then
    tensor = tensor:rope_rows_to_halves(d.kv_heads, d.head_dim)
  end
  return tensor
end

return gguf
