-- The llama2.c checkpoint reader: header checks, sizes, tensor names and the
-- RoPE row order.

local support = require "support"
local fail = require "util.fail"
local llama2c = require "read.llama2c"
local native = require "kiln_native"

-- A tiny checkpoint: dim 4, hidden 6, 1 layer, 2 heads (head 2), 1 kv head,
-- vocab 3 (negative: separate classifier when `unshared`), seq 2.
local function header(t)
  return string.pack("<i4i4i4i4i4i4i4", t.dim, t.hidden, t.layers, t.heads, t.kv, t.vocab, t.seq)
end
local TINY = { dim = 4, hidden = 6, layers = 1, heads = 2, kv = 1, vocab = 3, seq = 2 }
local function tiny_floats(t)
  local hd = t.dim // t.heads
  local kv = t.kv * hd
  local v = math.abs(t.vocab)
  local n = v * t.dim + t.layers * (t.dim + t.dim * t.dim + 2 * kv * t.dim + t.dim * t.dim + t.dim + 3 * t.dim * t.hidden)
    + t.dim + t.seq * hd
  if t.vocab < 0 then n = n + v * t.dim end
  return n
end
local function tiny_file(dir, t, extra_bytes, value)
  local n = tiny_floats(t)
  local parts = { header(t) }
  for i = 1, n do parts[#parts + 1] = string.pack("<f", value and value(i) or (i * 0.25)) end
  local data = table.concat(parts) .. (extra_bytes or "")
  local path = dir .. "/tiny.bin"
  support.write(path, data)
  return path, data
end

local function failure(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  assert.is_true(fail.is(err), tostring(err))
  return tostring(err)
end

describe("llama2.c reader", function()
  local dir
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  it("derives the description from the header", function()
    local path = tiny_file(dir, TINY)
    local c = llama2c.open(path)
    local d = c.description
    assert.are.same({ 4, 6, 2, 1, 2, 1, 3, 2 },
      { d.hidden, d.intermediate, d.heads, d.kv_heads, d.head_dim, d.layers, d.vocab, d.max_seq })
    assert.is_true(d.tied_embeddings)
    assert.are.equal(c.tensors["model.embed_tokens.weight"], c.tensors["lm_head.weight"])
  end)

  it("places tensors in llama2.c order", function()
    local c = llama2c.open((tiny_file(dir, TINY)))
    -- embedding 3x4 floats after the 28-byte header, then the first RMSNorm
    assert.are.equal(28, c.tensors["model.embed_tokens.weight"].offset)
    assert.are.equal(28 + 12 * 4, c.tensors["model.layers.0.input_layernorm.weight"].offset)
    local t = c:load(native, "model.layers.0.input_layernorm.weight")
    assert.are.same({ 13 * 0.25, 14 * 0.25, 15 * 0.25, 16 * 0.25 }, t:to_table())
  end)

  it("reads a separate classifier when vocab_size is negative", function()
    local t = { dim = 4, hidden = 6, layers = 1, heads = 2, kv = 1, vocab = -3, seq = 2 }
    local c = llama2c.open((tiny_file(dir, t)))
    assert.is_false(c.description.tied_embeddings)
    assert.are_not.equal(c.tensors["model.embed_tokens.weight"], c.tensors["lm_head.weight"])
  end)

  it("reorders q/k rows per head from adjacent pairs to halves", function()
    local c = llama2c.open((tiny_file(dir, TINY)))
    local raw = native.map_tensor(c.path, c.tensors["model.layers.0.self_attn.q_proj.weight"].offset, 16, "fp32"):to_table()
    local q = c:load(native, "model.layers.0.self_attn.q_proj.weight"):to_table()
    -- head_dim 2: the pair (0, 1) is already (i, i + d/2); rows stay
    assert.are.same(raw, q)
    -- a wider head: 4 rows per head, pairs (0,1),(2,3) -> rows 0,2 | 1,3
    local w = native.tensor({ 0, 0, 1, 1, 2, 2, 3, 3 })
    assert.are.same({ 0, 0, 2, 2, 1, 1, 3, 3 }, w:rope_rows_to_halves(1, 4):to_table())
  end)

  it("refuses a truncated file, naming the size", function()
    local _, data = tiny_file(dir, TINY)
    support.write(dir .. "/cut.bin", data:sub(1, #data - 3))
    local msg = failure(function() llama2c.open(dir .. "/cut.bin") end)
    assert.matches("cut%.bin: size: truncated", msg)
  end)

  it("refuses trailing bytes", function()
    local path = tiny_file(dir, TINY, "xyzw")
    assert.matches("size: .*4 unexpected trailing bytes", failure(function() llama2c.open(path) end))
  end)

  it("refuses a file shorter than the header", function()
    support.write(dir .. "/short.bin", "abc")
    assert.matches("short%.bin: header: file is 3 bytes", failure(function() llama2c.open(dir .. "/short.bin") end))
  end)

  it("refuses inconsistent header fields, naming the field", function()
    local cases = {
      { { dim = 0 }, "dim: must be positive" },
      { { heads = 3 }, "n_heads: 3 does not divide dim 4" },
      { { kv = 3, heads = 4, dim = 8 }, "n_kv_heads: 3 does not divide n_heads 4" },
      { { heads = 4 }, "dim: head size 1" },
      { { seq = -1 }, "seq_len: must be positive" },
      { { layers = 1 << 30 }, "n_layers: 1073741824 is not a plausible size" },
    }
    for _, case in ipairs(cases) do
      local t = {}
      for k, v in pairs(TINY) do t[k] = v end
      for k, v in pairs(case[1]) do t[k] = v end
      support.write(dir .. "/bad.bin", header(t) .. string.rep("\0", 64))
      assert.matches(case[2], failure(function() llama2c.open(dir .. "/bad.bin") end), 1, true)
    end
  end)

  it("refuses the versioned export format", function()
    support.write(dir .. "/v1.bin", "ak42" .. string.pack("<i4", 1) .. string.rep("\0", 248))
    assert.matches("header: llama2.c version 1 export", failure(function() llama2c.open(dir .. "/v1.bin") end))
  end)

  it("refuses a NaN weight, naming the tensor", function()
    local path = tiny_file(dir, TINY, nil, function(i) return i == 14 and 0 / 0 or 1.0 end)
    local c = llama2c.open(path)
    assert.matches("model%.layers%.0%.input_layernorm%.weight: element 1 is",
      failure(function() c:load(native, "model.layers.0.input_layernorm.weight") end))
  end)

  it("names a missing file", function()
    assert.matches("nope%.bin: cannot open", failure(function() llama2c.open(dir .. "/nope.bin") end))
  end)
end)
