-- Writes an opened checkpoint (any format kiln reads) as a Hugging Face folder
-- or as a GGUF file, in a dtype: how `kiln synth --format` makes the embedded
-- default model in every format, so that every reader is tested without
-- ../shared. The weights go through the readers' own conventions and back:
-- HF keeps kiln's rotate-half q/k rows, GGUF gets adjacent pairs again.

local files = require "util.files"
local json = require "util.json"
local safetensors = require "write.safetensors"
local gguf = require "write.gguf"
local rope = require "model.rope"

local convert = {}

local TORCH_DTYPES = { fp32 = "float32", fp16 = "float16", bf16 = "bfloat16" }

local LAYER_PARAMS = {
  -- HF name, GGUF name, is a matrix
  { "input_layernorm.weight", "attn_norm.weight", false },
  { "self_attn.q_proj.weight", "attn_q.weight", true },
  { "self_attn.k_proj.weight", "attn_k.weight", true },
  { "self_attn.v_proj.weight", "attn_v.weight", true },
  { "self_attn.o_proj.weight", "attn_output.weight", true },
  { "post_attention_layernorm.weight", "ffn_norm.weight", false },
  { "mlp.gate_proj.weight", "ffn_gate.weight", true },
  { "mlp.up_proj.weight", "ffn_up.weight", true },
  { "mlp.down_proj.weight", "ffn_down.weight", true },
}

-- Every tensor of a model of desc: { hf = name, gguf = name, shape, matrix }.
function convert.tensor_list(desc)
  local D, I = desc.hidden, desc.intermediate
  local q, kv = desc.heads * desc.head_dim, desc.kv_heads * desc.head_dim
  local shapes = {
    ["self_attn.q_proj.weight"] = { q, D }, ["self_attn.k_proj.weight"] = { kv, D },
    ["self_attn.v_proj.weight"] = { kv, D }, ["self_attn.o_proj.weight"] = { D, q },
    ["mlp.gate_proj.weight"] = { I, D }, ["mlp.up_proj.weight"] = { I, D }, ["mlp.down_proj.weight"] = { D, I },
  }
  local list = { { hf = "model.embed_tokens.weight", gguf = "token_embd.weight", shape = { desc.vocab, D }, matrix = true } }
  for l = 0, desc.layers - 1 do
    for _, p in ipairs(LAYER_PARAMS) do
      list[#list + 1] = { hf = "model.layers." .. l .. "." .. p[1], gguf = "blk." .. l .. "." .. p[2],
        shape = shapes[p[1]] or { D }, matrix = p[3] }
    end
  end
  list[#list + 1] = { hf = "model.norm.weight", gguf = "output_norm.weight", shape = { D } }
  if not desc.tied_embeddings then
    list[#list + 1] = { hf = "lm_head.weight", gguf = "output.weight", shape = { desc.vocab, D }, matrix = true }
  end
  return list
end

-- config.json as transformers 5 writes it.
function convert.hf_config(desc, dtype)
  local scaling = desc.rope_scaling
  local params = json.object():set("rope_theta", desc.rope_theta + 0.0):set("rope_type", scaling and scaling.type or "default")
  for _, k in ipairs(scaling and rope.FIELDS[scaling.type] or {}) do params:set(k, scaling[k]) end
  return json.encode(json.object()
    :set("architectures", { "LlamaForCausalLM" })
    :set("attention_bias", false)
    :set("bos_token_id", desc.bos_id or 1)
    :set("dtype", TORCH_DTYPES[dtype])
    :set("eos_token_id", desc.eos_id or 2)
    :set("head_dim", desc.head_dim)
    :set("hidden_act", "silu")
    :set("hidden_size", desc.hidden)
    :set("intermediate_size", desc.intermediate)
    :set("max_position_embeddings", desc.max_seq)
    :set("mlp_bias", false)
    :set("model_type", "llama")
    :set("num_attention_heads", desc.heads)
    :set("num_hidden_layers", desc.layers)
    :set("num_key_value_heads", desc.kv_heads)
    :set("rms_norm_eps", desc.rms_eps + 0.0)
    :set("rope_parameters", params)
    :set("tie_word_embeddings", desc.tied_embeddings and true or false)
    :set("vocab_size", desc.vocab))
end

-- The bytes of one weight in dtype.
local function stored(native, ckpt, name, dtype, to_pairs_heads, head_dim)
  local t = ckpt:load(native, name)
  if t:dtype() ~= dtype then t = t:converted(dtype) end
  if to_pairs_heads then t = t:rope_rows_to_pairs(to_pairs_heads, head_dim) end
  return t:bytes()
end

-- hf_parts(native, ckpt, dtype [, replaced]) -> safetensors entries, their
-- data (strings, in order), config.json's text: the pieces of an HF folder,
-- tensors sorted by name as transformers writes them. replaced[name], where
-- given, is a tensor's data instead of the checkpoint's (kiln gptq's weights).
function convert.hf_parts(native, ckpt, dtype, replaced)
  local list = convert.tensor_list(ckpt.description)
  table.sort(list, function(a, b) return a.hf < b.hf end)
  local entries, data = {}, {}
  for i, t in ipairs(list) do
    entries[i] = { name = t.hf, dtype = dtype, shape = t.shape }
    data[i] = replaced and replaced[t.hf] or stored(native, ckpt, t.hf, dtype)
  end
  return entries, data, convert.hf_config(ckpt.description, dtype)
end

-- hf(native, ckpt, dir, dtype): dir/config.json and dir/model.safetensors.
function convert.hf(native, ckpt, dir, dtype)
  local entries, data, config = convert.hf_parts(native, ckpt, dtype)
  local head = safetensors.header(entries, { { "format", "pt" } })
  files.write_atomic(dir .. "/model.safetensors", head .. table.concat(data))
  files.write_atomic(dir .. "/config.json", config)
end

-- gguf_parts(native, ckpt, dtype) -> metadata, tensor entries, their data
-- (each padded to the alignment): matrices in dtype, the norms in fp32 (as
-- llama.cpp keeps them), q/k rows in adjacent pairs.
function convert.gguf_parts(native, ckpt, dtype)
  local desc = ckpt.description
  local meta = {
    { "general.architecture", { "string", "llama" } },
    { "general.name", { "string", files.basename(ckpt.path) } },
    { "general.alignment", { "u32", gguf.ALIGNMENT } },
    { "llama.context_length", { "u32", desc.max_seq } },
    { "llama.embedding_length", { "u32", desc.hidden } },
    { "llama.block_count", { "u32", desc.layers } },
    { "llama.feed_forward_length", { "u32", desc.intermediate } },
    { "llama.attention.head_count", { "u32", desc.heads } },
    { "llama.attention.head_count_kv", { "u32", desc.kv_heads } },
    { "llama.rope.dimension_count", { "u32", desc.head_dim } },
    { "llama.attention.layer_norm_rms_epsilon", { "f32", desc.rms_eps } },
    { "llama.rope.freq_base", { "f32", desc.rope_theta } },
  }
  local entries, data = {}, {}
  for i, t in ipairs(convert.tensor_list(desc)) do
    local dt = t.matrix and dtype or "fp32"
    local heads = t.hf:match("q_proj") and desc.heads or t.hf:match("k_proj") and desc.kv_heads or nil
    entries[i] = { name = t.gguf, dtype = dt, shape = t.shape }
    local bytes = stored(native, ckpt, t.hf, dt, heads, desc.head_dim)
    data[i] = bytes .. string.rep("\0", gguf.padding(#bytes))
  end
  return meta, entries, data
end

-- gguf(native, ckpt, path, dtype): one GGUF v3 file.
function convert.gguf(native, ckpt, path, dtype)
  local meta, entries, data = convert.gguf_parts(native, ckpt, dtype)
  files.write_atomic(path, gguf.header(meta, entries) .. table.concat(data))
end

return convert
