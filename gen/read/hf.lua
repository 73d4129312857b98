-- Reader for Hugging Face model folders, as transformers' save_pretrained
-- writes them: config.json of a Llama (LlamaForCausalLM), and the weights in
-- model.safetensors or in the shards that model.safetensors.index.json names.
--
-- HF keeps q/k rows in rotate-half order, kiln's own: no permutation. The
-- weights are mapped in their stored dtype (fp32, fp16, bf16), never copied.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local safetensors = require "read.safetensors"
local rope = require "model.rope"
local fields = require "read.fields"

local hf = {}

hf.CONFIG = "config.json"
hf.SINGLE = "model.safetensors"
hf.INDEX = "model.safetensors.index.json"

local DTYPE_NAMES = { float32 = "fp32", float16 = "fp16", bfloat16 = "bf16" }

local function sorted_keys(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list, function(a, b) return tostring(a) < tostring(b) end)
  return list
end

-- "NaN", "infinity" or "-infinity", the same on every C library.
function hf.nonfinite_name(v)
  if v ~= v then return "NaN" end
  return v > 0 and "infinity" or "-infinity"
end

-- Is path a folder holding config.json?
function hf.is_folder(path)
  return files.exists(path .. "/" .. hf.CONFIG)
end

local function read_json(path, what)
  local text = files.read(path)
  local doc, err = json.decode(text)
  if type(doc) ~= "table" or text:match("^%s*%[") then
    fail.raise(path, "json", "not a JSON object" .. (err and (": " .. tostring(err)) or ""))
  end
  local repeated = json.repeated_key(text)
  if repeated then fail.raise(path, repeated, "appears twice in the " .. what) end
  return doc
end

-- The description of config.json (still to be checked against the tensors).
local function describe(path, cfg)
  if cfg.model_type ~= "llama" then
    fail.raise(path, "model_type", string.format("%s is not supported (llama)", tostring(cfg.model_type)))
  end
  if cfg.architectures ~= nil then
    local ok = type(cfg.architectures) == "table" and #cfg.architectures >= 1
    for _, a in ipairs(type(cfg.architectures) == "table" and cfg.architectures or {}) do
      ok = ok and a == "LlamaForCausalLM"
    end
    if not ok then fail.raise(path, "architectures", "only LlamaForCausalLM is supported") end
  end
  for _, key in ipairs({ "attention_bias", "mlp_bias" }) do
    if fields.flag(path, cfg, key, false) then fail.raise(path, key, "true: biases are not supported yet") end
  end
  if cfg.hidden_act ~= nil and cfg.hidden_act ~= "silu" then
    fail.raise(path, "hidden_act", string.format("%s is not supported (silu)", tostring(cfg.hidden_act)))
  end
  local heads, kv_heads, head_dim, hidden = fields.heads(path, cfg, { heads = "num_attention_heads",
    kv_heads = "num_key_value_heads", head_dim = "head_dim", hidden = "hidden_size" })
  local dtype = cfg.dtype ~= nil and cfg.dtype or cfg.torch_dtype
  if dtype ~= nil and dtype ~= json.decoded_null and not DTYPE_NAMES[dtype] then
    fail.raise(path, cfg.dtype ~= nil and "dtype" or "torch_dtype",
      string.format("%s is not supported (float32, float16, bfloat16)", tostring(dtype)))
  end
  local theta, scaling = rope.from_hf_config(path, cfg)
  return {
    arch = "llama",
    hidden = hidden,
    intermediate = fields.size(path, cfg, "intermediate_size"),
    heads = heads,
    kv_heads = kv_heads,
    head_dim = head_dim,
    layers = fields.size(path, cfg, "num_hidden_layers"),
    vocab = fields.size(path, cfg, "vocab_size"),
    rms_eps = fields.number(path, cfg, "rms_norm_eps"),
    rope_theta = theta,
    rope_scaling = scaling,
    max_seq = fields.size(path, cfg, "max_position_embeddings"),
    tied_embeddings = fields.flag(path, cfg, "tie_word_embeddings", false),
    bos_id = fields.token_id(path, cfg, "bos_token_id"),
    eos_id = fields.token_id(path, cfg, "eos_token_id"),
  }
end

-- The tensors a Llama of desc has, with their shapes ([out, in] for matrices).
function hf.expected_tensors(desc)
  local q, kv = desc.heads * desc.head_dim, desc.kv_heads * desc.head_dim
  local D, I = desc.hidden, desc.intermediate
  local list = { ["model.embed_tokens.weight"] = { desc.vocab, D }, ["model.norm.weight"] = { D } }
  if not desc.tied_embeddings then list["lm_head.weight"] = { desc.vocab, D } end
  for l = 0, desc.layers - 1 do
    local p = "model.layers." .. l .. "."
    list[p .. "input_layernorm.weight"] = { D }
    list[p .. "post_attention_layernorm.weight"] = { D }
    list[p .. "self_attn.q_proj.weight"] = { q, D }
    list[p .. "self_attn.k_proj.weight"] = { kv, D }
    list[p .. "self_attn.v_proj.weight"] = { kv, D }
    list[p .. "self_attn.o_proj.weight"] = { D, q }
    list[p .. "mlp.gate_proj.weight"] = { I, D }
    list[p .. "mlp.up_proj.weight"] = { I, D }
    list[p .. "mlp.down_proj.weight"] = { D, I }
  end
  return list
end

-- A Llama has 9 tensors a layer: a layer count the weights cannot hold is
-- refused before the list of expected tensors is made (a hostile count would
-- make it huge).
function hf.check_layer_count(path, key, layers, tensors)
  local n = 0
  for _ in pairs(tensors) do n = n + 1 end
  if layers * 9 > n then
    fail.raise(path, key, string.format("%d layers, but the weights hold only %d tensors", layers, n))
  end
end

-- check_shapes(expected, tensors, where, source) -> the tensors' dtypes, as
-- "bf16" or "fp16+fp32": every expected tensor is there with its shape.
-- where(t, name) -> file, name for a refusal; source names what implies the shapes.
function hf.check_shapes(expected, tensors, where, source)
  local dtypes, list = {}, {}
  for _, name in ipairs(sorted_keys(expected)) do
    local shape, t = expected[name], tensors[name]
    if not t then
      local file, shown = where(nil, name)
      fail.raise(file, shown, "missing")
    end
    local same = #t.shape == #shape
    for i = 1, #shape do same = same and t.shape[i] == shape[i] end
    if not same then
      local file, shown = where(t, name)
      fail.raise(file, shown, string.format("shape [%s], but %s implies [%s]", table.concat(t.shape, ", "), source,
        table.concat(shape, ", ")))
    end
    if not dtypes[t.dtype] then list[#list + 1] = t.dtype end
    dtypes[t.dtype] = true
  end
  table.sort(list)
  return table.concat(list, "+")
end

-- The safetensors files of the folder and which tensor each holds.
local function weight_files(dir)
  local single, index = dir .. "/" .. hf.SINGLE, dir .. "/" .. hf.INDEX
  if files.exists(index) then
    local doc = read_json(index, "index")
    if type(doc.weight_map) ~= "table" then fail.raise(index, "weight_map", "missing") end
    local shards, names = {}, {}
    for _, name in ipairs(sorted_keys(doc.weight_map)) do
      local file = doc.weight_map[name]
      if type(file) ~= "string" or not file:match("^[%w%._%-]+%.safetensors$") then
        fail.raise(index, name, "names a shard that is not a .safetensors file in the folder: " .. tostring(file))
      end
      shards[file] = true
      names[name] = file
    end
    local list = {}
    for file in pairs(shards) do list[#list + 1] = file end
    table.sort(list)
    return list, names, index
  end
  if files.exists(single) then return { hf.SINGLE }, nil, nil end
  fail.raise(dir, "weights", "neither " .. hf.SINGLE .. " nor " .. hf.INDEX .. " in the folder")
end

-- open(dir) -> checkpoint: { path, description, tensors = { name -> {file, offset, count, dtype, shape} },
-- files = { names relative to dir }, load(native, name) }.
function hf.open(dir)
  dir = dir:gsub("/+$", "")
  local config_path = dir .. "/" .. hf.CONFIG
  local desc = describe(config_path, read_json(config_path, "config"))
  local shard_files, weight_map, index_path = weight_files(dir)

  local tensors, total = {}, 0
  for _, file in ipairs(shard_files) do
    local path = dir .. "/" .. file
    local st = safetensors.open(path)
    total = total + st.size
    for _, name in ipairs(sorted_keys(st.tensors)) do
      local t = st.tensors[name]
      if tensors[name] then fail.raise(path, name, "also in " .. tensors[name].file) end
      if weight_map and weight_map[name] == nil then
        fail.raise(path, name, "is in this shard, but the index does not name it")
      elseif weight_map and weight_map[name] ~= file then
        fail.raise(path, name, "the index puts this tensor in " .. weight_map[name])
      end
      t.file = path
      tensors[name] = t
    end
  end
  if weight_map then
    for _, name in ipairs(sorted_keys(weight_map)) do
      if not tensors[name] then fail.raise(dir .. "/" .. weight_map[name], name, "named by the index, but not in the shard") end
    end
  end

  -- every tensor the config implies, with its shape; nothing else (in name
  -- order, so that a refusal is the same on every run)
  hf.check_layer_count(config_path, "num_hidden_layers", desc.layers, tensors)
  local expected = hf.expected_tensors(desc)
  for _, name in ipairs(sorted_keys(tensors)) do
    local t = tensors[name]
    if not expected[name] and not name:match("%.rotary_emb%.inv_freq$")
      and not (desc.tied_embeddings and name == "lm_head.weight") then
      fail.raise(t.file, name, "is not a tensor of a Llama as config.json describes it")
    end
  end
  local dtypes = hf.check_shapes(expected, tensors, function(t, name)
    return t and t.file or index_path or (dir .. "/" .. hf.SINGLE), t and t.name or name
  end, "config.json")
  if desc.tied_embeddings then tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"] end

  desc.dtype = dtypes -- the parameters' own dtype: config.json's is only a hint
  desc.weights = { format = "hf", folder = files.basename(dir), files = #shard_files, bytes = total }
  local ckpt = { path = dir, description = desc, tensors = tensors, files = shard_files }
  return setmetatable(ckpt, { __index = hf })
end

-- ckpt:load(native, name) -> native Tensor of the named weight, mapped in its stored dtype.
function hf.load(ckpt, native, name)
  local t = ckpt.tensors[name]
  if not t then fail.raise(ckpt.path, name, "no such tensor in the model") end
  local tensor, err = native.map_tensor(t.file, t.offset, t.count, t.dtype)
  if not tensor then fail.raise(t.file, t.name, err) end
  local bad = tensor:first_nonfinite()
  if bad then fail.raise(t.file, t.name, string.format("element %d is %s", bad - 1, hf.nonfinite_name(tensor:get(bad)))) end
  return tensor
end

-- The files whose bytes make the model, relative to ckpt.path (for its digest).
function hf.digest_files(ckpt)
  local list = { hf.CONFIG }
  for _, f in ipairs(ckpt.files) do list[#list + 1] = f end
  return list
end

return hf
