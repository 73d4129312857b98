-- Corrupt Hugging Face folders (config.json, safetensors, shard index) and
-- GGUF files, each made from the synthetic model with one thing wrong: every
-- one is refused in one line naming the file and the tensor or field, with a
-- non-zero exit and nothing written.

local support = require "support"
local native = require "kiln_native"
local cjson = require "cjson"
local checkpoint = require "read.checkpoint"
local convert = require "write.convert"
local st_write = require "write.safetensors"
local gguf_write = require "write.gguf"

local base, ckpt
local function synthetic()
  if not ckpt then
    base = support.tmpdir()
    local _, err, code = support.kiln_run("synth", "-o", base)
    assert(code == 0, err)
    ckpt = checkpoint.open(base .. "/model.bin")
  end
  return ckpt
end

-- One line on stderr naming every fragment, a non-zero exit, and q.json (a
-- calibration's output) left as it was.
local function refused(model, ...)
  local q = support.tmpdir() .. "/q.json"
  support.write(q, "keep me")
  local _, err, code = support.kiln_run("calib", model, "-z", base .. "/tokenizer.bin", "--text", base .. "/text.txt",
    "--samples", "2", "--decode-steps", "1", "-o", q)
  assert.are_not.equal(0, code)
  assert.matches("^kiln: [^\n]+\n$", err)
  for _, fragment in ipairs({ ... }) do assert.matches(fragment, err, 1, true) end
  assert.are.equal("keep me", support.read(q))
end

-- An HF folder of the synthetic model after edits: header(t) edits the
-- safetensors header as a table, header_text(s) its JSON text, config(t) the
-- config, data(s) the data bytes, files = { name = bytes } adds files.
local function hf_folder(edit)
  edit = edit or {}
  local entries, data, config = convert.hf_parts(native, synthetic(), "fp32")
  local dir = support.tmpdir()
  local head = st_write.header(entries, { { "format", "pt" } })
  local text = head:sub(9)
  if edit.header then
    local t = cjson.decode(text)
    edit.header(t)
    text = cjson.encode(t)
  end
  if edit.header_text then text = edit.header_text(text) end
  local bytes = table.concat(data)
  if edit.data then bytes = edit.data(bytes) end
  local file = edit.raw and edit.raw(string.pack("<i8", #text) .. text .. bytes) or (string.pack("<i8", #text) .. text .. bytes)
  support.write(dir .. "/model.safetensors", file)
  if edit.config then
    local c = cjson.decode(config)
    edit.config(c)
    config = cjson.encode(c)
  end
  support.write(dir .. "/config.json", edit.config_text and edit.config_text(config) or config)
  local extra = type(edit.files) == "function" and edit.files(entries) or edit.files or {}
  for name, content in pairs(extra) do support.write(dir .. "/" .. name, content) end
  return dir
end

-- A GGUF file of the synthetic model after edits: meta(list), entries(list)
-- before the header is made, raw(bytes) on the whole file.
local function gguf_file(edit)
  edit = edit or {}
  local meta, entries, data = convert.gguf_parts(native, synthetic(), "fp32")
  if edit.meta then edit.meta(meta) end
  if edit.entries then edit.entries(entries, data) end
  local bytes = gguf_write.header(meta, entries) .. table.concat(data)
  if edit.raw then bytes = edit.raw(bytes) end
  local path = support.tmpdir() .. "/model.gguf"
  support.write(path, bytes)
  return path
end

local function set_meta(meta, key, value)
  for _, kv in ipairs(meta) do
    if kv[1] == key then kv[2] = value; return end
  end
  meta[#meta + 1] = { key, value }
end

local function drop_meta(meta, key)
  for i, kv in ipairs(meta) do
    if kv[1] == key then table.remove(meta, i); return end
  end
end

-- Replaces the u32/u64 right after the first occurrence of a GGUF string.
local function patch_after(bytes, name, skip, fmt, value)
  local s = string.pack("<I8", #name) .. name
  local at = assert(bytes:find(s, 1, true)) + #s + skip
  return bytes:sub(1, at - 1) .. string.pack(fmt, value) .. bytes:sub(at + string.packsize(fmt))
end

local Q = "model.layers.0.self_attn.q_proj.weight"

describe("corrupt Hugging Face folders and GGUF files", function()
  teardown(function() support.cleanup() end)

  it("reads the unbroken ones (the edits below are what breaks them)", function()
    for _, model in ipairs({ hf_folder(), gguf_file() }) do
      local _, err, code = support.kiln_run("describe", model)
      assert.are.equal(0, code, err)
    end
  end)

  local st = "model.safetensors: "
  local cases = {
    { "a header length beyond the file", { raw = function(b) return string.pack("<i8", #b) .. b:sub(9) end },
      st .. "header: header length" },
    { "a header length over 100 MB", { raw = function(b) return string.pack("<i8", 200000000) .. b:sub(9) end },
      st .. "header: header length 200000000" },
    { "a file shorter than the length field", { raw = function(b) return b:sub(1, 5) end }, st .. "header: file is 5 bytes" },
    { "a header that is not JSON", { header_text = function(t) return t:sub(1, -3) .. "!!" end }, st .. "header: not a JSON object" },
    { "a header that is a JSON array", { header_text = function(t) return "[" .. string.rep(" ", #t - 2) .. "]" end },
      st .. "header: not a JSON object" },
    { "a tensor named twice", { header_text = function(t)
        local entry = t:match('("model%.norm%.weight"%s*:%s*%b{})') -- repeated before the closing brace
        return t:gsub("%s*}%s*$", "") .. "," .. entry .. "}"
      end }, st .. "model.norm.weight: the header names this tensor twice" },
    { "an unknown dtype", { header = function(h) h[Q].dtype = "F99" end }, st .. Q .. ": unknown dtype \"F99\"" },
    { "a dtype kiln does not read", { header = function(h) h[Q].dtype = "I8" end },
      st .. Q .. ": dtype I8 is not supported (F32, F16, BF16)" },
    { "a negative shape entry", { header = function(h) h[Q].shape[1] = -64 end }, st .. Q .. ": shape entry -64" },
    { "a fractional shape entry", { header = function(h) h[Q].shape[2] = 6.5 end }, st .. Q .. ": shape entry 6.5" },
    { "data_offsets that end before they begin", { header = function(h)
        h[Q].data_offsets = { h[Q].data_offsets[2], h[Q].data_offsets[1] }
      end }, st .. Q .. ": data_offsets must be [begin, end]" },
    { "data_offsets beyond the data", { header = function(h)
        h[Q].data_offsets[2] = h[Q].data_offsets[2] + 10 ^ 9
      end }, st .. Q .. ": data_offsets end" },
    { "a shape that does not match its bytes", { header = function(h) h[Q].shape[1] = h[Q].shape[1] - 1 end },
      st .. Q .. ": shape [" },
    { "tensors that overlap", { header = function(h)
        h[Q].data_offsets = { h[Q].data_offsets[1] - 4, h[Q].data_offsets[2] - 4 }
      end }, "overlaps the tensor before it" },
    { "a gap between tensors", { header = function(h)
        local n = "model.norm.weight"
        h[n].data_offsets = { h[n].data_offsets[1] + 4, h[n].data_offsets[2] + 4 }
      end, data = function(d) return d .. "\0\0\0\0" end }, "a gap of 4 bytes before its data" },
    { "bytes after the last tensor", { data = function(d) return d .. "\0\0\0\0" end },
      st .. "data: 4 bytes after the last tensor" },
    { "__metadata__ that is not strings", { header = function(h) h.__metadata__ = { format = 5 } end },
      st .. "__metadata__: must be an object of strings" },
    { "config.json missing hidden_size", { config = function(c) c.hidden_size = nil end }, "config.json: hidden_size: missing" },
    { "a model_type kiln does not read", { config = function(c) c.model_type = "gpt2" end },
      "config.json: model_type: gpt2 is not supported" },
    { "kv heads that do not divide the heads", { config = function(c) c.num_key_value_heads = 3 end },
      "config.json: num_key_value_heads: 3 does not divide" },
    { "attention biases", { config = function(c) c.attention_bias = true end }, "config.json: attention_bias: true" },
    { "an unsupported rope_type", { config = function(c) c.rope_parameters.rope_type = "yarn" end },
      "config.json: rope_parameters.rope_type: yarn is not supported" },
    { "a config dtype kiln does not hold", { config = function(c) c.dtype = "float64" end },
      "config.json: dtype: float64 is not supported" },
    { "an activation other than SiLU", { config = function(c) c.hidden_act = "gelu" end },
      "config.json: hidden_act: gelu is not supported" },
    { "a config.json that is not JSON", { config_text = function(t) return t:sub(1, 20) end }, "config.json: json: not a JSON object" },
    { "shapes that contradict config.json", { config = function(c) c.intermediate_size = c.intermediate_size + 1 end },
      "model.layers.0.mlp.down_proj.weight: shape [" },
    { "a tensor config.json implies and the weights lack", { header = function(h)
        local up = "model.layers.1.mlp.up_proj.weight" -- its bytes kept under a name kiln ignores
        h["model.layers.1.rotary_emb.inv_freq"], h[up] = h[up], nil
      end }, "model.safetensors: model.layers.1.mlp.up_proj.weight: missing" },
    { "a layer count no weights could hold", { config = function(c) c.num_hidden_layers = 16000000 end },
      "config.json: num_hidden_layers: 16000000 layers, but the weights hold only" },
    { "a tensor a Llama has no place for", { header = function(h)
        local at = h["model.norm.weight"].data_offsets[2] -- the last tensor: a bias of no bytes after it
        h["model.layers.0.self_attn.q_proj.bias"] = { dtype = "F32", shape = { 0 }, data_offsets = { at, at } }
      end }, "model.layers.0.self_attn.q_proj.bias: is not a tensor of a Llama" },
    { "a shard index naming a file outside the folder", { files = {
        ["model.safetensors.index.json"] = '{"weight_map": {"model.norm.weight": "../model.safetensors"}}',
      } }, "model.safetensors.index.json: model.norm.weight: names a shard that is not a .safetensors file in the folder" },
    { "a shard index naming a tensor its shard lacks", { files = function(entries)
        local map = { ["model.extra.weight"] = "model.safetensors" }
        for _, e in ipairs(entries) do map[e.name] = "model.safetensors" end
        return { ["model.safetensors.index.json"] = cjson.encode({ weight_map = map }) }
      end }, "model.safetensors: model.extra.weight: named by the index, but not in the shard" },
    { "a shard holding a tensor its index does not name", { files = {
        ["model.safetensors.index.json"] = '{"weight_map": {"model.norm.weight": "model.safetensors"}}',
      } }, "model.safetensors: model.embed_tokens.weight: is in this shard, but the index does not name it" },
    { "a NaN in a weight", { data = function(d) return string.pack("<f", 0 / 0) .. d:sub(5) end },
      st .. "model.embed_tokens.weight: element 0 is NaN" },
  }
  for _, c in ipairs(cases) do
    it("HF: " .. c[1], function()
      refused(hf_folder(c[2]), c[3])
    end)
  end

  local gcases = {
    { "version 1", { raw = function(b) return "GGUF" .. string.pack("<I4", 1) .. b:sub(9) end },
      "model.gguf: version: 1 is not supported" },
    { "a file cut inside the metadata", { raw = function(b) return b:sub(1, 100) end }, "file ends inside it (truncated)" },
    { "tensor data beyond the end of the file", { raw = function(b) return b:sub(1, -200) end },
      "lies beyond the end of the file" },
    { "an offset off the alignment", { raw = function(b) return patch_after(b, "token_embd.weight", 4 + 16 + 4, "<I8", 4) end },
      "model.gguf: token_embd.weight: offset 4 is not aligned to 32" },
    { "an alignment that is not a power of two", { meta = function(m) set_meta(m, "general.alignment", { "u32", 48 }) end },
      "model.gguf: general.alignment: 48 is not a power of two" },
    { "an unsupported ggml type", { raw = function(b) return patch_after(b, "token_embd.weight", 4 + 16, "<I4", 2) end },
      "model.gguf: token_embd.weight: ggml type 2 is not supported" },
    { "a metadata key twice", { meta = function(m) m[#m + 1] = { "llama.block_count", { "u32", 2 } } end },
      "model.gguf: llama.block_count: appears twice in the metadata" },
    { "a string length past the file", { raw = function(b)
        return b:sub(1, 24) .. string.pack("<I8", 1 << 40) .. b:sub(33)
      end }, "model.gguf: metadata key: string of 1099511627776 bytes" },
    { "another architecture", { meta = function(m) set_meta(m, "general.architecture", { "string", "gpt2" }) end },
      "model.gguf: general.architecture: gpt2 is not supported" },
    { "a layer count no weights could hold", { meta = function(m) set_meta(m, "llama.block_count", { "u32", 16000000 }) end },
      "model.gguf: llama.block_count: 16000000 layers, but the weights hold only" },
    { "metadata without the layer count", { meta = function(m) drop_meta(m, "llama.block_count") end },
      "model.gguf: llama.block_count: missing" },
    { "an implausible tensor count", { raw = function(b) return b:sub(1, 8) .. string.pack("<I8", 1 << 40) .. b:sub(17) end },
      "model.gguf: header: implausible tensor or metadata count" },
    { "a tensor name llama does not have", { entries = function(e) e[2].name = "blk.0.attn_qkv.weight" end },
      "model.gguf: blk.0.attn_qkv.weight: is not a tensor of a llama model" },
    { "a tensor twice", { entries = function(e, d) e[#e + 1] = e[2]; d[#d + 1] = d[2] end },
      "model.gguf: blk.0.attn_norm.weight: appears twice among the tensors" },
    { "shapes that contradict the metadata", { meta = function(m)
        set_meta(m, "llama.feed_forward_length", { "u32", 129 })
      end }, "but the metadata implies" },
    { "a token list of the wrong length", { meta = function(m) set_meta(m, "tokenizer.ggml.tokens", { "strings", { "a", "b" } }) end },
      "model.gguf: tokenizer.ggml.tokens: 2 tokens, but the vocabulary has" },
    { "an infinity in a weight", { entries = function(_, d) d[1] = string.pack("<f", math.huge) .. d[1]:sub(5) end },
      "model.gguf: token_embd.weight: element 0 is infinity" },
  }
  for _, c in ipairs(gcases) do
    it("GGUF: " .. c[1], function()
      refused(gguf_file(c[2]), c[3])
    end)
  end

  it("a folder without config.json, and a bare safetensors file", function()
    local dir = hf_folder()
    os.remove(dir .. "/config.json")
    refused(dir, dir .. ": a folder without config.json is not a model")
    refused(dir .. "/model.safetensors", "a safetensors file is read from its Hugging Face folder")
  end)
end)
