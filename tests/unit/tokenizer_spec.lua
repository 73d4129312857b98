-- gen/read/tokenizer.lua: tokenizer.bin reading and run.c-exact encode/decode.
-- The references in ../shared/models were produced by run.c itself; the
-- synthetic vocabularies below pin the corner cases tok512 does not reach
-- (score ties, BOS merges, NUL bytes, malformed files).

local support = require "support"
local fail = require "util.fail"
local tokenizer = require "read.tokenizer"

local shared = support.have_shared()

-- it() when ../shared/models is there, else a pending test saying why.
local function it_shared(name, fn)
  if shared then
    it(name, fn)
  else
    pending(name .. " (needs ../shared/models)")
  end
end

local function tok512()
  return tokenizer.open(support.model_file("tok512.bin"), 512)
end

-- tokenizer.bin bytes: tokens is a list of { score, string }, or of strings
-- (score 0). Ids 0..258 follow llama2.c's layout unless `bare` is set.
local function build(tokens, opts)
  opts = opts or {}
  local list = {}
  if not opts.bare then
    list = { "<unk>", "\n<s>\n", "\n</s>\n" }
    for b = 0, 255 do list[#list + 1] = string.format("<0x%02X>", b) end
  end
  for _, t in ipairs(tokens) do list[#list + 1] = t end
  local parts = { string.pack("<i4", opts.max_token_length or 8) }
  for _, t in ipairs(list) do
    local score, s = 0.0, t
    if type(t) == "table" then score, s = t[1], t[2] end
    parts[#parts + 1] = string.pack("<fi4", score, #s) .. s
  end
  return table.concat(parts), #list
end

-- Writes bytes to a fresh temp file and opens it.
local function open_bytes(bytes, vocab_size, name)
  local path = support.tmpdir() .. "/" .. (name or "tok.bin")
  support.write(path, bytes)
  return tokenizer.open(path, vocab_size), path
end

local function open_tokens(tokens, opts)
  local bytes, n = build(tokens, opts)
  return (open_bytes(bytes, n))
end

-- Id of a string in a synthetic vocabulary (synthetic ones have no duplicates).
local function id_of(tok, s)
  for i, v in ipairs(tok.vocab) do
    if v == s then return i - 1 end
  end
  error("no token " .. s)
end

-- run.c's merge loop, literally: rescan and concatenate every pair each round.
-- Slow, but independent of the module's heap and pair cache.
local function naive_merge(tok, ids)
  local lookup = {}
  for i = #tok.vocab, 1, -1 do lookup[tok.vocab[i]] = i - 1 end
  ids = { table.unpack(ids) }
  while true do
    local best_score, best_id, best_idx = -1e10, nil, nil
    for i = 1, #ids - 1 do
      local id = lookup[tok.vocab[ids[i] + 1] .. tok.vocab[ids[i + 1] + 1]]
      if id and tok.scores[id + 1] > best_score then
        best_score, best_id, best_idx = tok.scores[id + 1], id, i
      end
    end
    if not best_idx then return ids end
    ids[best_idx] = best_id
    table.remove(ids, best_idx + 1)
  end
end

-- Unmerged tokens: what encode() would give if no pair merged. Obtained from a
-- copy of the vocabulary with every merge score pushed below run.c's floor.
local function unmerged(tok, text, bos)
  local copy = setmetatable({}, { __index = tok })
  copy.scores, copy.merges = {}, {}
  for i = 1, #tok.scores do copy.scores[i] = -1e30 end
  return copy:encode(text, bos, 0)
end

local function same(a, b)
  assert.are.same(a, b)
end

describe("tokenizer with tok512.bin", function()
  it_shared("reads the header and all 512 tokens", function()
    local tok = tok512()
    assert.are.equal(512, tok.vocab_size)
    assert.are.equal(7, tok.max_token_length)
    assert.are.equal(512, #tok.vocab)
    assert.are.equal(512, #tok.scores)
    assert.are.equal("<unk>", tok.vocab[1])
    assert.are.equal("\n<s>\n", tok.vocab[2])
    assert.are.equal("\n</s>\n", tok.vocab[3])
    assert.are.equal("<0x00>", tok.vocab[4])
    assert.are.equal("<0xFF>", tok.vocab[259])
    assert.are.equal(" t", tok.vocab[260])
    assert.are.equal(-1.0, tok.scores[261])
    assert.are.equal(support.model_file("tok512.bin"), tok.path)
  end)

  it_shared("has no duplicate strings, so run.c's bsearch is unambiguous", function()
    local seen = {}
    for i, s in ipairs(tok512().vocab) do
      assert.is_nil(seen[s], "duplicate of id " .. tostring(seen[s]) .. " at " .. (i - 1))
      seen[s] = i - 1
    end
  end)

  describe("encode matches run.c's encode(text, 1, 0)", function()
    local path = support.model_file("stories260K_ref_token_ids.txt")
    if not (shared and path) then
      pending("every encode[...] line of stories260K_ref_token_ids.txt (needs ../shared/models)")
      return
    end
    local count = 0
    for line in io.lines(path) do
      local text, ids = line:match("^encode%[(.*)%]: (.*)$")
      if text then
        count = count + 1
        it(string.format("%q", text), function()
          local want = {}
          for id in ids:gmatch("%d+") do want[#want + 1] = tonumber(id) end
          same(want, tok512():encode(text, 1, 0))
        end)
      end
    end
    it("found the six reference prompts", function()
      assert.are.equal(6, count)
    end)
  end)

  it_shared("appends EOS (2) when eos is set", function()
    local tok = tok512()
    same({ 1, 403, 407, 261, 378, 2 }, tok:encode("Once upon a time", 1, 1))
    same({ 403, 407, 261, 378, 2 }, tok:encode("Once upon a time", false, true))
  end)

  it_shared("treats C-style 0 as false and gives {1} for empty text with BOS", function()
    local tok = tok512()
    same({ 1 }, tok:encode("", 1, 0))
    same({ 1 }, tok:encode("", true, false))
    same({}, tok:encode("", 0, 0))
    same({ 2 }, tok:encode("", 0, 1))
  end)

  it_shared("falls back to byte tokens for a codepoint not in the vocabulary", function()
    local tok = tok512()
    local ids = tok:encode("The café is naïve.", 1, 0)
    -- ï (C3 AF) is not a token: ids 0xC3+3 and 0xAF+3 take its place.
    same({ 1, 291, 280, 412, 431, 485, 410, 293, 297, 412, 198, 178, 360, 426 }, ids)
    assert.are.equal("<0xC3>", tok.vocab[198 + 1])
    assert.are.equal("<0xAF>", tok.vocab[178 + 1])
    -- é is a vocabulary token of its own.
    assert.are.equal("é", tok.vocab[485 + 1])
    local text = {}
    for i = 2, #ids do text[#text + 1] = tok:decode(ids[i - 1], ids[i]) end
    assert.are.equal("The café is naïve.", table.concat(text))
  end)

  it_shared("decodes the greedy stream to run.c's stdout for -t 0 -n 512", function()
    local tok = tok512()
    local ids
    for line in io.lines(support.model_file("stories260K_ref_token_ids.txt")) do
      local list = line:match("^greedy_ids_from_bos: (.*)$")
      if list then
        ids = {}
        for id in list:gmatch("%d+") do ids[#ids + 1] = tonumber(id) end
      end
    end
    assert.are.equal(346, #ids)
    -- run.c prints each piece after BOS, stops when the model emits BOS
    -- (not in the list), then prints "\n".
    local out = {}
    for i = 2, #ids do out[#out + 1] = tok:printable(tok:decode(ids[i - 1], ids[i])) end
    out[#out + 1] = "\n"
    assert.are.equal(support.read(support.model_file("stories260K_ref_t0_n512.txt")), table.concat(out))
  end)

  it_shared("decode drops the space after BOS only and maps <0xHH> to the byte", function()
    local tok = tok512()
    assert.are.equal(" the", tok:decode(403, 265))
    assert.are.equal("the", tok:decode(1, 265))
    assert.are.equal("A", tok:decode(0, 0x41 + 3))
    assert.are.equal("\n", tok:decode(1, 0x0A + 3))
    assert.are.equal("\xC3", tok:decode(0, 0xC3 + 3))
    -- run.c returns a C string, which is empty for the NUL byte.
    assert.are.equal("", tok:decode(0, 3))
    assert.are.equal("\n<s>\n", tok:decode(0, 1))
    assert.has_error(function() tok:decode(1, 512) end)
  end)

  it_shared("printable keeps what safe_printf prints", function()
    local tok = tok512()
    assert.are.equal("", tok:printable(""))
    assert.are.equal("", tok:printable("\1"))
    assert.are.equal("", tok:printable("\x7F"))
    assert.are.equal("", tok:printable("\xC3"))
    assert.are.equal("A", tok:printable("A"))
    assert.are.equal("\t", tok:printable("\t"))
    assert.are.equal("\n", tok:printable("\n"))
    assert.are.equal(" ", tok:printable(" "))
    assert.are.equal("é", tok:printable("é"))
    assert.are.equal("\1\2", tok:printable("\1\2"))
    assert.are.equal("ab", tok:printable("ab\0cd"))
  end)

  it_shared("merges like the naive loop on the first stories", function()
    local tok = tok512()
    local text = support.read(support.model_file("tinystories_valid_first100.txt"))
    local n = 0
    for story in text:gmatch("(.-)\n<|endoftext|>\n") do
      n = n + 1
      if n > 3 then break end
      same(naive_merge(tok, unmerged(tok, story, 1)), tok:encode(story, 1, 0))
    end
    assert.are.equal(4, n)
  end)
end)

describe("tokenizer encode corner cases (synthetic vocabularies)", function()
  after_each(support.cleanup)

  it("picks the leftmost of equally scored pairs", function()
    local tok = open_tokens({ { -9, " " }, { -9, "a" }, { -9, "b" }, { -1, "ab" }, { -1, "ba" } })
    local sp, a, ab = id_of(tok, " "), id_of(tok, "a"), id_of(tok, "ab")
    same({ 1, sp, ab, a }, tok:encode("aba", 1, 0))
  end)

  it("prefers the higher score wherever it is", function()
    local tok = open_tokens({ { -9, " " }, { -9, "a" }, { -9, "b" }, { -2, "ab" }, { -1, "ba" } })
    local sp, a, ba = id_of(tok, " "), id_of(tok, "a"), id_of(tok, "ba")
    same({ 1, sp, a, ba }, tok:encode("aba", 1, 0))
  end)

  it("lets BOS take part in merges, as run.c's loop does", function()
    local tok = open_tokens({ { -9, " " }, { -9, "x" }, { 5, "\n<s>\n " } })
    same({ id_of(tok, "\n<s>\n "), id_of(tok, "x") }, tok:encode("x", 1, 0))
    same({ id_of(tok, " "), id_of(tok, "x") }, tok:encode("x", 0, 0))
  end)

  it("never merges at or below run.c's -1e10 floor", function()
    local tok = open_tokens({ { -9, " " }, { -9, "a" }, { -1e10, "aa" }, { -1e11, " a" } })
    local sp, a = id_of(tok, " "), id_of(tok, "a")
    same({ sp, a, a }, tok:encode("aa", 0, 0))
  end)

  it("splits codepoints like run.c: at most four bytes, stray continuations alone", function()
    local four = "\x80\x80\x80\x80"
    local tok = open_tokens({ { -9, " " }, { -9, "é" }, { -9, four } })
    local sp, e, f = id_of(tok, " "), id_of(tok, "é"), id_of(tok, four)
    same({ sp, e }, tok:encode("é", 0, 0))
    same({ sp, f, 0x80 + 3 }, tok:encode(four .. "\x80", 0, 0))
    same({ sp, f, f }, tok:encode(four .. four, 0, 0))
    -- a lone lead byte is a codepoint of its own, then falls back to bytes
    same({ sp, 0xC3 + 3, 0x41 + 3 }, tok:encode("\xC3A", 0, 0))
  end)

  it("stops the text at its first NUL, as a C string does", function()
    local tok = open_tokens({ { -9, " " }, { -9, "a" } })
    local sp, a = id_of(tok, " "), id_of(tok, "a")
    same({ 1, sp, a }, tok:encode("a\0a", 1, 0))
    same({ 1 }, tok:encode("\0a", 1, 0))
  end)

  it("returns the lowest id for duplicate strings", function()
    local tok = open_tokens({ { -9, " " }, { -9, "a" }, { -9, "a" } })
    same({ id_of(tok, " "), 260 }, tok:encode("a", 0, 0))
  end)

  it("refuses text when the vocabulary has no \" \" for the dummy prefix", function()
    local tok = open_tokens({ { -9, "a" } })
    same({ 1 }, tok:encode("", 1, 0))
    local ok, err = pcall(tok.encode, tok, "a", 1, 0)
    assert.is_false(ok)
    assert.is_true(fail.is(err))
    assert.matches("dummy prefix", tostring(err))
  end)

  it("refuses byte fallback beyond a small vocabulary", function()
    local tok = open_tokens({ "<unk>", "<s>", "</s>", " " }, { bare = true })
    local ok, err = pcall(tok.encode, tok, "a", 1, 0)
    assert.is_false(ok)
    assert.is_true(fail.is(err))
    assert.matches("byte fallback", tostring(err))
  end)

  it("equals the naive merge loop on random text with many ties", function()
    local tokens, seen = {}, {}
    local letters = { " ", "a", "b", "c", "é" }
    for _, l in ipairs(letters) do
      tokens[#tokens + 1] = { -5, l }
      seen[l] = true
    end
    local rng = 12345
    local function rand(n) -- a small LCG keeps the test independent of math.random's state
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    for _ = 1, 40 do
      local s = letters[rand(5)] .. letters[rand(5)]
      if rand(2) == 1 then s = s .. letters[rand(5)] end
      if not seen[s] then
        seen[s] = true
        tokens[#tokens + 1] = { -(rand(3) - 1), s }
      end
    end
    local tok = open_tokens(tokens)
    local pieces = { " ", "a", "b", "c", "é", "\xC3", "\xA9", "x", "ab" }
    for _ = 1, 200 do
      local t = {}
      for k = 1, rand(20) - 1 do t[k] = pieces[rand(#pieces)] end
      local text = table.concat(t)
      same(naive_merge(tok, unmerged(tok, text, 1)), tok:encode(text, 1, 0))
    end
  end)
end)

describe("tokenizer decode of byte-looking pieces", function()
  after_each(support.cleanup)

  -- glibc sscanf("<0x%02hhX>") returns 1 for more than "<0xHH>"; run.c trusts it.
  it("follows sscanf's %02hhX, not just the exact <0xHH> form", function()
    local tok = open_tokens({ "<0x4>", "<0x41abc", "<0x 7f>", "<0x-1>", "<0x0x>", "<0xzz>", "<0X41>", "<0x" },
      { bare = true })
    assert.are.equal("\4", tok:decode(0, 0))
    assert.are.equal("A", tok:decode(0, 1))
    assert.are.equal("\x7F", tok:decode(0, 2))
    assert.are.equal("\xFF", tok:decode(0, 3))
    assert.are.equal("", tok:decode(0, 4))
    assert.are.equal("<0xzz>", tok:decode(0, 5))
    assert.are.equal("<0X41>", tok:decode(0, 6))
    assert.are.equal("<0x", tok:decode(0, 7))
  end)

  it("strips the BOS space before looking for a byte token", function()
    local tok = open_tokens({ " <0x41>", " x" }, { bare = true })
    assert.are.equal("A", tok:decode(1, 0))
    assert.are.equal(" <0x41>", tok:decode(2, 0))
    assert.are.equal("x", tok:decode(1, 1))
  end)
end)

describe("tokenizer.open refuses malformed files", function()
  after_each(support.cleanup)

  -- Opens bytes (or a path when `bytes` is false) and returns the failure.
  local function refusal(bytes, vocab_size, path)
    if bytes then
      path = support.tmpdir() .. "/bad.bin"
      support.write(path, bytes)
    end
    local ok, err = pcall(tokenizer.open, path, vocab_size)
    assert.is_false(ok, "expected a refusal")
    assert.is_true(fail.is(err), "expected a fail error, got " .. tostring(err))
    local text = tostring(err)
    assert.is_nil(text:find("\n"), "one line")
    assert.are.equal(path, err.file)
    assert.are.equal(1, text:find(path, 1, true))
    return err, text
  end

  local function check(bytes, vocab_size, field, pattern)
    local err, text = refusal(bytes, vocab_size)
    assert.are.equal(field, err.field)
    assert.truthy(text:find(": " .. field .. ": ", 1, true), text)
    assert.matches(pattern, text)
  end

  local function entry(score, s, len)
    return string.pack("<fi4", score, len or #s) .. s
  end

  local HEAD = string.pack("<i4", 4)

  it("accepts a well-formed small file", function()
    local tok = open_bytes(HEAD .. entry(0, "a") .. entry(-1, "bcd") .. entry(0, ""), 3)
    same({ "a", "bcd", "" }, tok.vocab)
    same({ 0.0, -1.0, 0.0 }, tok.scores)
    assert.are.equal(4, tok.max_token_length)
  end)

  it("a missing file", function()
    local path = support.tmpdir() .. "/nope.bin"
    local _, text = refusal(false, 3, path)
    assert.matches("cannot read", text)
  end)

  it("a file shorter than 4 bytes", function()
    check("\1\0", 3, "max_token_length", "too short")
    check("", 3, "max_token_length", "0 bytes")
  end)

  it("a non-positive max_token_length", function()
    check(string.pack("<i4", 0) .. entry(0, ""), 1, "max_token_length", "must be positive, got 0")
    check(string.pack("<i4", -7) .. entry(0, ""), 1, "max_token_length", "got %-7")
  end)

  it("a negative token length", function()
    check(HEAD .. entry(0, "a") .. entry(0, "", -1), 2, "token 1", "negative length %-1")
  end)

  it("a token longer than max_token_length", function()
    check(HEAD .. entry(0, "a") .. entry(0, "abcde"), 2, "token 1", "length 5 exceeds max_token_length 4")
  end)

  it("a file that ends inside a token", function()
    local whole = HEAD .. entry(0, "a") .. entry(0, "bc")
    check(whole, 3, "size", "truncated: ends inside token 2 of 3")
    check(whole:sub(1, -2), 2, "size", "truncated: ends inside token 1 of 2")
    check(whole:sub(1, -4), 2, "size", "truncated: ends inside token 1 of 2")
    check(whole:sub(1, -7), 2, "size", "truncated: ends inside token 1 of 2")
    check(HEAD, 1, "size", "truncated: ends inside token 0 of 1")
  end)

  it("trailing bytes after the last token", function()
    check(HEAD .. entry(0, "a") .. entry(0, "bc"), 1, "size", "10 trailing bytes after token 0")
  end)

  it("a NaN score", function()
    local nan = string.pack("<I4i4", 0x7FC00000, 1) .. "b"
    check(HEAD .. entry(0, "a") .. nan, 2, "token 1", "NaN")
  end)

  it("a non-positive or non-integer vocab_size", function()
    local bytes = HEAD .. entry(0, "a")
    check(bytes, 0, "vocab_size", "positive integer")
    check(bytes, 1.5, "vocab_size", "positive integer")
    check(bytes, nil, "vocab_size", "positive integer")
  end)
end)
