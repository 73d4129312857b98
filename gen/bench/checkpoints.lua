-- Synthetic checkpoints of any shape for the benchmark, as llama2.c files or
-- as Hugging Face folders in any dtype: normal weights from a fixed seed
-- (matrices with std 1/sqrt(fan-in), RMSNorm gains near 1), written by the
-- native module so a 4 GB model takes seconds.

local fail = require "util.fail"
local files = require "util.files"
local llama2c = require "read.llama2c"
local convert = require "write.convert"
local safetensors = require "write.safetensors"

local checkpoints = {}

-- write(native, path, shape, seed): shape = { dim, hidden_dim, n_layers, n_heads,
-- n_kv_heads, vocab, seq_len, shared_classifier (default true) }.
function checkpoints.write(native, path, shape, seed)
  local h = {}
  for k, v in pairs(shape) do h[k] = v end
  if h.shared_classifier == nil then h.shared_classifier = true end
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<i4i4i4i4i4i4i4", h.dim, h.hidden_dim, h.n_layers, h.n_heads,
    h.n_kv_heads, h.shared_classifier and h.vocab or -h.vocab, h.seq_len))
  f:close()
  for i, t in ipairs(llama2c.layout(h)) do
    local count = t.rows * t.cols * (t.per_layer and h.n_layers or 1)
    local mean, std = 0.0, 1.0 / math.sqrt(t.cols)
    if t.rows == 1 then mean, std = 1.0, 0.1 end -- RMSNorm gains
    if t.name == "model.embed_tokens.weight" then std = 0.3 end
    local ok, err = native.write_normal(path, count, mean, std, seed * 1000 + i, true)
    if not ok then fail.raise(path, nil, "cannot write: " .. tostring(err)) end
  end
end

-- write_hf(native, dir, shape, seed, dtype): dir/config.json and
-- dir/model.safetensors of the same shape (dir must exist), in dtype.
function checkpoints.write_hf(native, dir, shape, seed, dtype)
  local desc = {
    hidden = shape.dim, intermediate = shape.hidden_dim, heads = shape.n_heads, kv_heads = shape.n_kv_heads,
    head_dim = shape.dim // shape.n_heads, layers = shape.n_layers, vocab = shape.vocab, max_seq = shape.seq_len,
    rms_eps = 1e-5, rope_theta = 10000.0, tied_embeddings = shape.shared_classifier ~= false,
  }
  local list = convert.tensor_list(desc)
  table.sort(list, function(a, b) return a.hf < b.hf end)
  local entries = {}
  for i, t in ipairs(list) do entries[i] = { name = t.hf, dtype = dtype, shape = t.shape } end
  local path = dir .. "/model.safetensors"
  local head = safetensors.header(entries, { { "format", "pt" } })
  local f = assert(io.open(path, "wb"))
  f:write(head)
  f:close()
  for i, t in ipairs(list) do
    local count = t.shape[1] * (t.shape[2] or 1)
    local mean, std = 0.0, 1.0 / math.sqrt(t.shape[2] or 1)
    if not t.shape[2] then mean, std = 1.0, 0.1 end -- RMSNorm gains
    if t.hf == "model.embed_tokens.weight" then std = 0.3 end
    local ok, err = native.write_normal(path, count, mean, std, seed * 1000 + i, true, dtype)
    if not ok then fail.raise(path, nil, "cannot write: " .. tostring(err)) end
  end
  files.write_atomic(dir .. "/config.json", convert.hf_config(desc, dtype))
end

return checkpoints
