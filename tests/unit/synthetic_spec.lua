-- Tests for the synthetic default model (gen/model/synthetic.lua) and its
-- verb `kiln synth`. `make demo` falls back on this model when stories260K is
-- missing. So it must always be a valid llama2.c checkpoint, tokenizer and
-- text, with the same bytes every time.
--
-- The files are parsed here with string.unpack, separately from kiln's
-- readers, so a bug shared by the writer and a reader cannot hide.

local support = require "support"
local synthetic = require "model.synthetic"
local llama2c = require "read.llama2c"

local SEPARATOR = "\n<|endoftext|>\n"

-- Parses a llama2.c tokenizer.bin. Fails the test if it is malformed.
local function parse_tokenizer(data)
  local max_len, pos = string.unpack("<i4", data)
  local tokens = {}
  while pos <= #data do
    local score, len
    score, len, pos = string.unpack("<fi4", data, pos)
    assert(len > 0 and pos + len - 1 <= #data, "token " .. #tokens .. " runs past the end")
    tokens[#tokens + 1] = { piece = data:sub(pos, pos + len - 1), score = score }
    pos = pos + len
  end
  assert.are.equal(#data + 1, pos)
  return max_len, tokens
end

local function floats_at(data, offset, count)
  local values, pos = {}, offset + 1
  for i = 1, count do values[i], pos = string.unpack("<f", data, pos) end
  return values
end

describe("synthetic model", function()
  local dir, paths

  setup(function()
    dir = support.tmpdir()
    paths = synthetic.write(dir)
  end)

  teardown(function()
    support.cleanup()
  end)

  it("writes the three files and returns their paths", function()
    assert.are.same({ model = dir .. "/model.bin", tokenizer = dir .. "/tokenizer.bin", text = dir .. "/text.txt" }, paths)
    for _, p in pairs(paths) do assert.is_true(support.exists(p), p) end
    -- Nothing left behind from the write-then-rename.
    for _, p in pairs(paths) do assert.is_false(support.exists(p .. ".tmp"), p .. ".tmp") end
  end)

  it("is deterministic: a second write gives identical bytes", function()
    local again = synthetic.write(support.tmpdir())
    for k, p in pairs(paths) do
      assert.is_true(support.read(p) == support.read(again[k]), k .. " differs between two writes")
    end
  end)

  it("is a llama2.c checkpoint with the expected dims, GQA and a tied classifier", function()
    local _, tokens = parse_tokenizer(support.read(paths.tokenizer))
    local ckpt = llama2c.open(paths.model)
    local h = ckpt.header
    assert.are.same({ 48, 128, 2, 4, 2, #tokens, 128 },
      { h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len })
    local d = ckpt.description
    assert.are.equal(12, d.head_dim)
    assert.are.equal(2, d.heads // d.kv_heads)
    assert.is_true(d.tied_embeddings)
    assert.are.equal(24, ckpt.tensors["model.layers.0.self_attn.k_proj.weight"].rows)
    assert.are.equal(24, ckpt.tensors["model.layers.1.self_attn.v_proj.weight"].rows)
  end)

  it("has exactly the size its header implies", function()
    local data = support.read(paths.model)
    local dim, hidden, L, heads, kv_heads, vocab, seq = string.unpack("<i4i4i4i4i4i4i4", data)
    local hs = dim // heads
    local kv = kv_heads * hs
    local floats = vocab * dim
      + L * (dim + dim * dim + 2 * kv * dim + dim * dim + dim + 3 * hidden * dim)
      + dim + 2 * seq * (hs // 2)
    assert.are.equal(28 + 4 * floats, #data)
  end)

  it("stores real RoPE tables and finite, sensibly scaled weights", function()
    local data = support.read(paths.model)
    local seq, hs = 128, 12
    local half = hs // 2
    local n = seq * half
    local re = floats_at(data, #data - 8 * n, n)
    local im = floats_at(data, #data - 4 * n, n)
    for pos = 0, seq - 1 do
      for i = 0, half - 1 do
        local angle = pos * (1 / 10000 ^ (2 * i / hs))
        assert.is_true(math.abs(re[pos * half + i + 1] - math.cos(angle)) < 1e-6)
        assert.is_true(math.abs(im[pos * half + i + 1] - math.sin(angle)) < 1e-6)
      end
    end
    local ckpt = llama2c.open(paths.model)
    local function stats(name)
      local t = ckpt.tensors[name]
      local v = floats_at(data, t.offset, t.count)
      local sum, sq = 0, 0
      for _, x in ipairs(v) do
        assert.is_true(x == x and math.abs(x) < 100, name .. " has a non-finite or huge value")
        sum, sq = sum + x, sq + x * x
      end
      local mean = sum / #v
      return mean, math.sqrt(sq / #v - mean * mean)
    end
    local mean, std = stats("model.layers.1.input_layernorm.weight")
    assert.is_true(math.abs(mean - 1) < 0.1 and std > 0.02 and std < 0.3)
    mean, std = stats("model.layers.0.self_attn.q_proj.weight")
    assert.is_true(math.abs(mean) < 0.02 and math.abs(std - 1 / math.sqrt(48)) < 0.02)
  end)

  it("has a tokenizer laid out like tok512.bin", function()
    local max_len, tokens = parse_tokenizer(support.read(paths.tokenizer))
    assert.is_true(#tokens >= 300 and #tokens <= 400)
    local longest = 0
    for _, t in ipairs(tokens) do longest = math.max(longest, #t.piece) end
    assert.are.equal(longest, max_len)

    -- Ids 0-2 are the specials, ids 3-258 the byte-fallback tokens.
    assert.are.same({ "<unk>", "\n<s>\n", "\n</s>\n" }, { tokens[1].piece, tokens[2].piece, tokens[3].piece })
    for b = 0, 255 do
      assert.are.equal(string.format("<0x%02X>", b), tokens[b + 4].piece)
    end
    for id = 0, 258 do assert.are.equal(0, tokens[id + 1].score) end

    -- Then the merges (at least two bytes), then the single characters.
    -- Scores count down 0, -1, -2, ... across both.
    local pieces, singles = {}, {}
    local first_single
    for id = 259, #tokens - 1 do
      local t = tokens[id + 1]
      assert.are.equal(-(id - 259), t.score)
      assert.is_nil(pieces[t.piece], "duplicate piece " .. t.piece)
      pieces[t.piece] = id
      if #t.piece == 1 then
        first_single = first_single or id
        singles[t.piece] = true
      else
        assert.is_nil(first_single, "merge '" .. t.piece .. "' after the single characters")
      end
    end
    assert.is_not_nil(first_single)
    assert.is_true(first_single - 259 >= 24, "expected a few dozen merges")
    for b = 32, 126 do assert.is_true(singles[string.char(b)], "missing piece " .. string.char(b)) end

    -- BPE: each merge joins two pieces that existed before it. Those are
    -- single characters (the base alphabet) or earlier merges.
    local function available(piece, before)
      return singles[piece] or (pieces[piece] ~= nil and pieces[piece] < before)
    end
    for id = 259, first_single - 1 do
      local piece = tokens[id + 1].piece
      local found = false
      for cut = 1, #piece - 1 do
        if available(piece:sub(1, cut), id) and available(piece:sub(cut + 1), id) then found = true end
      end
      assert.is_true(found, "merge '" .. piece .. "' is not two earlier pieces joined")
    end
  end)

  it("writes stories separated like the TinyStories files", function()
    local text = support.read(paths.text)
    assert.are.equal(SEPARATOR, text:sub(-#SEPARATOR))
    local stories = {}
    local start = 1
    while start <= #text do
      local s, e = text:find(SEPARATOR, start, true)
      assert.is_not_nil(s)
      stories[#stories + 1] = text:sub(start, s - 1)
      start = e + 1
    end
    assert.is_true(#stories >= 30 and #stories <= 50)
    local _, tokens = parse_tokenizer(support.read(paths.tokenizer))
    local known = {}
    for _, t in ipairs(tokens) do known[t.piece] = true end
    for i, story in ipairs(stories) do
      assert.is_true(#story >= 200 and #story <= 600, "story " .. i .. " has " .. #story .. " characters")
      assert.is_nil(story:find("<|endoftext|>", 1, true))
      assert.are.equal(story, story:match("^%s*(.-)%s*$"), "story " .. i .. " has outer whitespace")
      -- Every character apart from newline is a piece, so encoding needs byte fallback only for newlines.
      for c in story:gmatch("[^\n]") do assert.is_true(known[c], "no piece for " .. string.format("%q", c)) end
    end
  end)
end)

describe("kiln synth", function()
  teardown(function()
    support.cleanup()
  end)

  it("creates the directory, writes the files and prints their paths", function()
    local dir = support.tmpdir() .. "/new/out"
    local out, err, code = support.kiln_run("synth", "-o", dir)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local expected = { dir .. "/model.bin", dir .. "/tokenizer.bin", dir .. "/text.txt" }
    assert.are.equal(table.concat(expected, "\n") .. "\n", out)
    local reference = synthetic.build()
    assert.is_true(support.read(expected[1]) == reference.model)
    assert.is_true(support.read(expected[2]) == reference.tokenizer)
    assert.is_true(support.read(expected[3]) == reference.text)
  end)

  it("overwrites the files in an existing directory", function()
    local dir = support.tmpdir()
    support.write(dir .. "/model.bin", "stale")
    local _, _, code = support.kiln_run("synth", "--output=" .. dir)
    assert.are.equal(0, code)
    assert.is_true(support.read(dir .. "/model.bin") == synthetic.build().model)
  end)

  it("refuses a missing -o as a usage error", function()
    local _, err, code = support.kiln_run("synth")
    assert.are.equal(2, code)
    assert.truthy(err:find("missing required option --output", 1, true))
  end)
end)
