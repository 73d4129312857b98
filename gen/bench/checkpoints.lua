-- Synthetic llama2.c checkpoints of any shape for the benchmark: normal
-- weights from a fixed seed (matrices with std 1/sqrt(fan-in), RMSNorm gains
-- near 1), written by the native module so a 4 GB model takes seconds.

local fail = require "util.fail"
local llama2c = require "read.llama2c"

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

return checkpoints
