-- gen/read/tokenizer_json.lua and the native pieces under it (regex.c,
-- unicode.c, bpe.c) on small tokenizers built here, each pinning one rule of
-- Hugging Face tokenizers; the real files and their goldens are in
-- tests/e2e/tokenizers_spec.lua.

local support = require "support"
local native = require "kiln_native"
local cjson = require "cjson"
local tokenizer_json = require "read.tokenizer_json"

local GPT2 = [['s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+]]
local LLAMA3 = [[(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+]]

-- The pieces a regex cuts s into, in order.
local function matches(pattern, s)
  local re = assert(native.regex(pattern))
  local offs = assert(re:find_all(s))
  local out = {}
  for i = 1, #offs, 2 do out[#out + 1] = s:sub(offs[i] + 1, offs[i + 1]) end
  return out
end

-- A tokenizer.json from a table (model defaults: BPE, the given vocab, no merges).
local function write_json(doc)
  local path = support.tmpdir() .. "/tokenizer.json"
  support.write(path, cjson.encode(doc))
  return path
end

local function bpe(vocab, merges, extra)
  local m = { type = "BPE", vocab = vocab, merges = merges or setmetatable({}, cjson.array_mt) }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function open(doc)
  return tokenizer_json.open(native, write_json(doc))
end

-- A vocabulary of single characters (and any extra tokens), ids in order.
local function chars_vocab(chars, extra)
  local v, id = {}, 0
  for _, c in utf8.codes(chars) do
    v[utf8.char(c)] = id
    id = id + 1
  end
  for _, t in ipairs(extra or {}) do
    v[t] = id
    id = id + 1
  end
  return v
end

describe("regex.c", function()
  it("splits text as the GPT-2 pattern does", function()
    assert.are.same({ "Hello", " world", "'s", " 123", " ", " x", "\n" }, matches(GPT2, "Hello world's 123  x\n"))
  end)

  it("splits text as the Llama 3 pattern does: case-folded contractions, digits by threes, CRLF runs", function()
    assert.are.same({ "I", "'M", " ", "123", "456", "7", " ok", "!!\r\n\r\n", " ", " é你" },
      matches(LLAMA3, "I'M 1234567 ok!!\r\n\r\n  é你"))
  end)

  it("takes \\p{L} and \\p{N} from the Unicode data, beyond ASCII", function()
    assert.are.same({ "Ωμέγα", "٣٤Ⅻ", "x" }, matches([[\p{L}+|\p{N}+|\S]], "Ωμέγα٣٤Ⅻx")) -- Ⅻ: Nl
    assert.are.same({ "\u{3000}\u{A0}" }, matches([[\s+]], "\u{3000}\u{A0}"))
  end)

  it("refuses what it does not implement, saying what and where", function()
    for pattern, what in pairs({
      ["^a"] = "anchors", ["(?<=a)b"] = "look-behind", ["a++"] = "possessive", ["(a"] = "",
      ["\\p{Greek}"] = "", ["(a*)*"] = "match nothing",
    }) do
      local re, err = native.regex(pattern)
      assert.is_nil(re, pattern)
      assert.matches(what, err, 1, true)
    end
  end)

  it("stops a pattern that backtracks without end", function()
    local re = assert(native.regex("(a|aa)+c"))
    local offs, err = re:find_all(string.rep("a", 60))
    assert.is_nil(offs)
    assert.matches("backtracks too long", err)
  end)
end)

describe("unicode.c", function()
  it("knows general categories", function()
    local got = {}
    for _, c in utf8.codes("Aß你٣Ⅻ\u{301}\u{3000}😀") do got[#got + 1] = native.unicode_category(c) end
    assert.are.same({ "Lu", "Ll", "Lo", "Nd", "Nl", "Mn", "Zs", "So" }, got)
  end)

  it("finds and replaces invalid UTF-8 as Rust's from_utf8_lossy does", function()
    assert.is_nil(native.utf8_invalid_at("héllo"))
    assert.are.equal(1, native.utf8_invalid_at("a\xffb"))
    assert.are.equal("a\u{FFFD}b", native.utf8_lossy("a\xe2\x82b"))         -- one truncated sequence
    assert.are.equal("\u{FFFD}\u{FFFD}", native.utf8_lossy("\xed\xa0"))     -- a surrogate: byte by byte
    assert.are.equal("€", native.utf8_lossy("\xe2\x82\xac"))
  end)

  it("passes every case of the Unicode NormalizationTest (NFC, NFD, NFKC, NFKD)", function()
    local file = "/usr/share/unicode/NormalizationTest.txt.bz2"
    if not support.exists(file) then return pending(file .. " is missing (Debian's unicode-data)") end
    local function text(hexes)
      local t = {}
      for h in hexes:gmatch("%x+") do t[#t + 1] = utf8.char(tonumber(h, 16)) end
      return table.concat(t)
    end
    local p = io.popen("bzcat " .. file)
    local cases, failed = 0, {}
    for line in p:lines() do
      local c = { line:match("^([%x ]+);([%x ]+);([%x ]+);([%x ]+);([%x ]+);") }
      if c[1] then
        cases = cases + 1
        local s = {}
        for i = 1, 5 do s[i] = text(c[i]) end
        if native.unicode_normalize(s[1], "NFC") ~= s[2] or native.unicode_normalize(s[1], "NFD") ~= s[3]
          or native.unicode_normalize(s[1], "NFKC") ~= s[4] or native.unicode_normalize(s[1], "NFKD") ~= s[5] then
          failed[#failed + 1] = line
        end
      end
    end
    p:close()
    assert.is_true(cases > 15000, "cases read: " .. cases)
    assert.are.same({}, { table.unpack(failed, 1, 5) })
  end)
end)

describe("tokenizer.json BPE", function()
  it("merges by rank, lowest first, leftmost among equals", function()
    local vocab = chars_vocab("abc", { "ab", "bc", "abc" })
    -- bc outranks ab: "abc" -> a + bc, then (a, bc) has no merge
    local tok = open({ model = bpe(vocab, { "b c", "a b", "ab c" }) })
    assert.are.same({ vocab.a, vocab.bc }, tok:encode("abc"))
    tok = open({ model = bpe(vocab, { "a b", "b c", "ab c" }) })
    assert.are.same({ vocab.abc }, tok:encode("abc"))
    -- equal pairs: the leftmost merges first ("aaa" -> aa + a)
    vocab = chars_vocab("a", { "aa" })
    assert.are.same({ vocab.aa, vocab.a }, open({ model = bpe(vocab, { { "a", "a" } }) }):encode("aaa"))
  end)

  it("falls back to <0xXX> byte tokens for characters not in the vocab", function()
    local vocab = chars_vocab("ab", { "<0xC3>", "<0xA9>" })
    local tok = open({ model = bpe(vocab, nil, { byte_fallback = true }) })
    assert.are.same({ vocab.a, vocab["<0xC3>"], vocab["<0xA9>"], vocab.b }, tok:encode("aéb"))
  end)

  it("gives unknown characters unk_token, fused into one when fuse_unk is set", function()
    local vocab = chars_vocab("ab", { "<unk>" })
    local unk = vocab["<unk>"]
    assert.are.same({ vocab.a, unk, unk, vocab.b }, open({ model = bpe(vocab, nil, { unk_token = "<unk>" }) }):encode("aéèb"))
    assert.are.same({ vocab.a, unk, vocab.b },
      open({ model = bpe(vocab, nil, { unk_token = "<unk>", fuse_unk = true }) }):encode("aéèb"))
  end)

  it("takes a whole word from the vocab with ignore_merges", function()
    local vocab = chars_vocab("ab", { "ab", "ba", "aba" })
    local merges = { "a b", "b a" }
    assert.are.same({ vocab.ab, vocab.a }, open({ model = bpe(vocab, merges) }):encode("aba"))
    assert.are.same({ vocab.aba }, open({ model = bpe(vocab, merges, { ignore_merges = true }) }):encode("aba"))
  end)
end)

describe("tokenizer.json pipeline", function()
  it("splits added tokens out of the text first: special ones before the normalizer, normalized ones after", function()
    local vocab = chars_vocab("ab▁")
    local tok = open({
      model = bpe(vocab),
      normalizer = { type = "Replace", pattern = { String = " " }, content = "▁" },
      added_tokens = {
        { id = 10, content = "<s>", special = true, normalized = false },
        { id = 11, content = "a b", special = false, normalized = true }, -- matched as "a▁b"
        { id = 12, content = "b▁a", special = false, normalized = true },
      },
    })
    assert.are.same({ vocab.a, 10, 11, 12, vocab["▁"], vocab.b }, tok:encode("a<s>a bb a b"))
  end)

  it("strips the white space an added token asks for", function()
    local vocab = chars_vocab("ab ")
    local tok = open({ model = bpe(vocab), added_tokens = {
      { id = 5, content = "<m>", lstrip = true, rstrip = true, special = true },
    } })
    assert.are.same({ vocab.a, 5, vocab.b }, tok:encode("a  <m>  b"))
  end)

  it("splits at a pattern with each of tokenizers' behaviors", function()
    local vocab = chars_vocab("thefinalcoutdw-")
    local function pieces(behavior, invert)
      local tok = open({ model = bpe(vocab), pre_tokenizer = { type = "Split", pattern = { String = "-" },
        behavior = behavior, invert = invert or false } })
      local out = {}
      for _, p in ipairs(tok.pre_tokenizer({ { text = "the-final--countdown", first = true } })) do out[#out + 1] = p.text end
      return out
    end
    assert.are.same({ "the", "final", "countdown" }, pieces("Removed"))
    assert.are.same({ "the", "-", "final", "-", "-", "countdown" }, pieces("Isolated"))
    assert.are.same({ "the-", "final-", "-", "countdown" }, pieces("MergedWithPrevious"))
    assert.are.same({ "the", "-final", "-", "-countdown" }, pieces("MergedWithNext"))
    assert.are.same({ "the", "-", "final", "--", "countdown" }, pieces("Contiguous"))
    assert.are.same({ "-", "-", "-" }, pieces("Removed", true))
  end)

  it("puts the Metaspace replacement before the text as its prepend_scheme says", function()
    local vocab = chars_vocab("ab▁<>")
    local function ids(scheme, split, text)
      local tok = open({ model = bpe(vocab), added_tokens = { { id = 20, content = "<>", special = true } },
        pre_tokenizer = { type = "Metaspace", replacement = "▁", prepend_scheme = scheme, split = split } })
      return table.concat(tok:encode(text), " ")
    end
    local sp, a, b = vocab["▁"], vocab.a, vocab.b
    assert.are.equal(table.concat({ sp, a, sp, b, 20, sp, a }, " "), ids("always", true, "a b<>a"))
    assert.are.equal(table.concat({ sp, a, sp, b, 20, a }, " "), ids("first", true, "a b<>a"))
    assert.are.equal(table.concat({ a, sp, b, 20, a }, " "), ids("never", false, "a b<>a"))
  end)

  it("maps bytes to GPT-2's printable characters and back", function()
    -- the vocab: bytes_to_unicode's 256 characters, each with its byte as id
    local vocab, n = {}, 0
    for b = 0, 255 do
      local printable = (b >= 33 and b <= 126) or (b >= 161 and b <= 172) or b >= 174
      vocab[utf8.char(printable and b or 256 + n)] = b
      if not printable then n = n + 1 end
    end
    local tok = open({ model = bpe(vocab), decoder = { type = "ByteLevel" },
      pre_tokenizer = { type = "ByteLevel", add_prefix_space = false, use_regex = true } })
    local text = "a b\n\0é😀"
    local ids = tok:encode(text)
    assert.are.same({ 97, 32, 98, 10, 0, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80 }, ids)
    assert.are.equal("Ġ", tok.by_id[32])
    assert.are.equal(text, tok:decode_ids(ids))
    assert.are.equal("\u{FFFD}", tok:decode_ids({ 0xF0, 0x9F }))
  end)

  it("decodes with Replace, ByteFallback, Fuse and Strip, and streams without splitting a character", function()
    local vocab = chars_vocab("ab▁", { "<0xE2>", "<0x82>", "<0xAC>", "<0xFF>" })
    local tok = open({ model = bpe(vocab, nil, { byte_fallback = true }),
      pre_tokenizer = { type = "Metaspace", replacement = "▁", prepend_scheme = "first", split = false },
      decoder = { type = "Sequence", decoders = {
        { type = "Replace", pattern = { String = "▁" }, content = " " }, { type = "ByteFallback" }, { type = "Fuse" },
        { type = "Strip", content = " ", start = 1, stop = 0 } } } })
    local ids = tok:encode("a €b")
    assert.are.same({ vocab["▁"], vocab.a, vocab["▁"], vocab["<0xE2>"], vocab["<0x82>"], vocab["<0xAC>"], vocab.b }, ids)
    assert.are.equal("a €b", tok:decode_ids(ids))
    assert.are.equal("a\u{FFFD}\u{FFFD}b", tok:decode_ids({ vocab["▁"], vocab.a, vocab["<0xE2>"], vocab["<0xFF>"], vocab.b }))
    local stream, printed = tok:stream(), {}
    for _, id in ipairs(ids) do printed[#printed + 1] = stream.push(id) end
    printed[#printed + 1] = stream.finish()
    assert.are.same({ "", "a", " ", "", "", "€", "b", "" }, printed)
  end)
end)

describe("tokenizer.json refusals", function()
  local function good_vocab() return chars_vocab("ab▁", { "ab", "<unk>" }) end
  local function good()
    return { model = bpe(good_vocab(), { "a b" }),
      pre_tokenizer = { type = "Metaspace", replacement = "▁", prepend_scheme = "first" }, decoder = { type = "Fuse" } }
  end

  -- Each case: a name, how to make the file (an edit of good() or raw text), and the field the refusal names.
  local CASES = {
    { "not JSON", "{ model: BPE", "json" },
    { "nesting without end", string.rep('{"model": ', 5000), "json" },
    { "a list", "[1, 2]", "json" },
    { "no model", function(d) d.model = nil end, "model" },
    { "a WordPiece model", function(d) d.model.type = "WordPiece" end, "model.type" },
    { "BPE dropout", function(d) d.model.dropout = 0.1 end, "model.dropout" },
    { "a continuing_subword_prefix", function(d) d.model.continuing_subword_prefix = "##" end,
      "model.continuing_subword_prefix" },
    { "a vocab that is not an object", function(d) d.model.vocab = "ab" end, "model.vocab" },
    { "a fractional token id", function(d) d.model.vocab.a = 0.5 end, "model.vocab" },
    { "two tokens with one id", function(d) d.model.vocab.b = d.model.vocab.a end, "model.vocab" },
    { "a merge that is not a pair", function(d) d.model.merges = { "ab" } end, "model.merges[0]" },
    { "a merge of tokens not in the vocab", function(d) d.model.merges = { "a b", "x y" } end, "model.merges[1]" },
    { "an unk_token not in the vocab", function(d) d.model.unk_token = "<oov>" end, "model.unk_token" },
    { "a Lowercase normalizer", function(d) d.normalizer = { type = "Lowercase" } end, "normalizer.type" },
    { "a BertNormalizer in a Sequence", function(d)
      d.normalizer = { type = "Sequence", normalizers = { { type = "NFC" }, { type = "BertNormalizer" } } }
    end, "normalizer.normalizers[1].type" },
    { "a Whitespace pre-tokenizer", function(d) d.pre_tokenizer = { type = "Whitespace" } end, "pre_tokenizer.type" },
    { "a Split regex with a look-behind", function(d)
      d.pre_tokenizer = { type = "Split", pattern = { Regex = "(?<=a)b" }, behavior = "Isolated" }
    end, "pre_tokenizer.pattern.Regex" },
    { "a Split behavior that does not exist", function(d)
      d.pre_tokenizer = { type = "Split", pattern = { String = " " }, behavior = "Sideways" }
    end, "pre_tokenizer.behavior" },
    { "a Metaspace prepend_scheme that does not exist", function(d) d.pre_tokenizer.prepend_scheme = "sometimes" end,
      "pre_tokenizer.prepend_scheme" },
    { "a WordPiece decoder", function(d) d.decoder = { type = "WordPiece" } end, "decoder.type" },
    { "a BertProcessing post-processor", function(d) d.post_processor = { type = "BertProcessing" } end,
      "post_processor.type" },
    { "truncation", function(d) d.truncation = { max_length = 8 } end, "truncation" },
    { "an added token without content", function(d) d.added_tokens = { { id = 9 } } end, "added_tokens[0]" },
    { "an added token on another token's id", function(d)
      d.added_tokens = { { id = good_vocab().a, content = "<x>", special = true } }
    end, "added_tokens[0].id" },
    { "more tokens than the model's vocabulary", function(d) d.model.vocab["<big>"] = 600 end, "model.vocab" },
  }

  for _, case in ipairs(CASES) do
    it("refuses " .. case[1] .. ", naming " .. case[3], function()
      local path
      if type(case[2]) == "string" then
        path = support.tmpdir() .. "/tokenizer.json"
        support.write(path, case[2])
      else
        local d = good()
        case[2](d)
        path = write_json(d)
      end
      local out, err, code = support.kiln_run("encode", path, "--vocab", "512", "ab")
      assert.are.equal("", out)
      assert.is_true(code == 1 or code == 2, "exit " .. tostring(code))
      assert.matches("^kiln: [^\n]+\n$", err)
      assert.matches(path .. ": " .. case[3], err, 1, true)
    end)
  end

  it("accepts the file all of them were made from", function()
    local out, err, code = support.kiln_run("encode", write_json(good()), "ab a")
    assert.are.equal(0, code, err)
    local v = good_vocab()
    assert.are.equal(table.concat({ v["▁"], v.ab, v["▁"], v.a }, " ") .. "\n", out)
  end)
end)

describe("kiln encode and decode", function()
  it("print ids and text, with the model's BOS and EOS when asked", function()
    local vocab = chars_vocab("ab ")
    local path = write_json({ model = bpe(vocab), added_tokens = {
      { id = 3, content = "<s>", special = true }, { id = 4, content = "</s>", special = true } } })
    local out, err, code = support.kiln_run("encode", path, "--bos", "--eos", "ab", "b a")
    assert.are.equal(0, code, err)
    -- without a model folder BOS and EOS are 1 and 2, as llama2.c's
    assert.are.equal("1 0 1 2\n1 1 2 0 2\n", out)
    out, err, code = support.kiln_run("decode", path, "0", "3", "1", "2", "4")
    assert.are.equal(0, code, err)
    assert.are.equal("a<s>b </s>\n", out)
    out, err, code = support.kiln_run("decode", path, "0", "x")
    assert.are.equal(2, code)
    assert.matches("IDS: 'x'", err, 1, true)
  end)

  it("take --file (one input) and --jsonl (one input a line)", function()
    local vocab = chars_vocab("ab \n")
    local path = write_json({ model = bpe(vocab) })
    local dir = support.tmpdir()
    support.write(dir .. "/t.txt", "a\nb")
    support.write(dir .. "/t.jsonl", '"a\\nb"\n{"text": "ba", "ids": []}\n')
    local out = support.kiln_run("encode", path, "--file", dir .. "/t.txt")
    assert.are.equal("0 3 1\n", out)
    out = support.kiln_run("encode", path, "--jsonl", dir .. "/t.jsonl")
    assert.are.equal("0 3 1\n1 0\n", out)
    support.write(dir .. "/bad.jsonl", '"a"\n[1]\n')
    local _, err, code = support.kiln_run("encode", path, "--jsonl", dir .. "/bad.jsonl")
    assert.are.equal(1, code)
    assert.matches(dir .. "/bad.jsonl: line 2:", err, 1, true)
    _, err, code = support.kiln_run("encode", path, "\xff")
    assert.are.equal(1, code)
    assert.matches("invalid UTF-8 at byte 0", err, 1, true)
  end)
end)
