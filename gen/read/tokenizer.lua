-- Reader for llama2.c's tokenizer.bin, with run.c's encode() and decode().
--
-- Format (little-endian): int32 max_token_length, then for each of vocab_size
-- tokens a float32 score, an int32 length and that many raw bytes (no NUL).
-- vocab_size is not stored; it comes from the checkpoint header, so the caller
-- passes it and the reader insists the file ends exactly after the last token.
--
-- Fidelity: encode(), decode() and printable() reproduce run.c (karpathy/
-- llama2.c) byte for byte, because kiln's output is checked against run.c's.
-- That includes run.c's C-string view of everything: the text stops at its
-- first NUL, a token's string stops at its first NUL byte (run.c strcmp()s and
-- sprintf()s them), and decode() of <0x00> is the empty string. The one
-- deliberate difference is speed: run.c rescans and re-concatenates every
-- adjacent pair per merge; here each pair's merge is cached and only the
-- neighbours of a merge are recomputed, with a heap ordered like run.c's scan
-- (highest score, leftmost on ties), so the result is the same.

local fail = require "util.fail"
local files = require "util.files"

local tokenizer = {}
tokenizer.__index = tokenizer

local BOS, EOS = 1, 2
-- run.c starts its best score at -1e10 and needs strictly more, so a merge
-- whose score is not above this never happens.
local NO_MERGE = -1e10
local LIMIT = 1 << 24 -- no plausible vocabulary is larger

-- What run.c sees of a token: it strcmp()s and prints C strings.
local function c_string(s)
  local nul = s:find("\0", 1, true)
  if nul then return s:sub(1, nul - 1) end
  return s
end

-- run.c accepts 0/1 ints for bos/eos; in Lua 0 is truthy, so treat it as C would.
local function flag(v)
  if type(v) == "number" then return v ~= 0 end
  return v and true or false
end

local function parse(path, data, vocab_size)
  if #data < 4 then
    fail.raise(path, "max_token_length",
      string.format("file is %d bytes, too short for the int32 max_token_length", #data))
  end
  local max_len, pos = string.unpack("<i4", data)
  if max_len <= 0 then
    fail.raise(path, "max_token_length", "must be positive, got " .. max_len)
  end
  local vocab, scores = {}, {}
  for id = 0, vocab_size - 1 do
    if pos + 8 > #data + 1 then
      fail.raise(path, "size", string.format("truncated: ends inside token %d of %d", id, vocab_size))
    end
    local score, len
    score, len, pos = string.unpack("<fi4", data, pos)
    local field = "token " .. id
    if score ~= score then fail.raise(path, field, "score is NaN") end
    if len < 0 then fail.raise(path, field, "negative length " .. len) end
    if len > max_len then
      fail.raise(path, field, string.format("length %d exceeds max_token_length %d", len, max_len))
    end
    if pos + len > #data + 1 then
      fail.raise(path, "size", string.format("truncated: ends inside token %d of %d", id, vocab_size))
    end
    vocab[id + 1] = data:sub(pos, pos + len - 1)
    scores[id + 1] = score
    pos = pos + len
  end
  if pos <= #data then
    fail.raise(path, "size", string.format(
      "%d trailing bytes after token %d; is vocab_size %d right?", #data - pos + 1, vocab_size - 1, vocab_size))
  end
  return max_len, vocab, scores
end

-- open(path, vocab_size) -> tokenizer. Raises a one-line failure when the file
-- does not hold exactly vocab_size well-formed tokens.
function tokenizer.open(path, vocab_size)
  if math.type(vocab_size) ~= "integer" or vocab_size <= 0 or vocab_size >= LIMIT then
    fail.raise(path, "vocab_size", "must be a positive integer, got " .. tostring(vocab_size))
  end
  local max_len, vocab, scores = parse(path, files.read(path), vocab_size)
  local cstr, ids = {}, {}
  for i = 1, vocab_size do
    local s = c_string(vocab[i])
    cstr[i] = s
    -- run.c bsearch()es a qsort()ed copy, so among duplicate strings the id it
    -- finds is unspecified; lowest id is a fixed, documented choice.
    if ids[s] == nil then ids[s] = i - 1 end
  end
  return setmetatable({
    path = path,
    vocab_size = vocab_size,
    max_token_length = max_len,
    vocab = vocab,
    scores = scores,
    cstr = cstr,   -- [id+1] -> token as run.c's C string
    ids = ids,     -- C string -> lowest id
    merges = {},   -- left*vocab_size+right -> merged id, or false
    bos = BOS,     -- run.c's: BOS 1, EOS 2
    eos = 2,
  }, tokenizer)
end

-- Merged id of the adjacent pair (a, b), or false. Memoised per tokenizer:
-- the same few thousand pairs recur across every story.
local function merge_of(tok, a, b)
  local key = a * tok.vocab_size + b
  local m = tok.merges[key]
  if m == nil then
    m = tok.ids[tok.cstr[a + 1] .. tok.cstr[b + 1]]
    if m ~= nil and not (tok.scores[m + 1] > NO_MERGE) then m = nil end
    m = m or false
    tok.merges[key] = m
  end
  return m
end

-- Initial tokens: BOS, dummy prefix, then one token per codepoint or its bytes.
local function initial_tokens(tok, text, bos)
  local out = {}
  if bos then out[1] = BOS end
  if text == "" then return out end
  local space = tok.ids[" "]
  if not space then fail.raise(tok.path, "vocab", "no \" \" token for the dummy prefix") end
  out[#out + 1] = space
  -- run.c's codepoint buffer: any byte starts one, up to three continuation
  -- bytes extend it, so stray continuation bytes form codepoints of their own.
  for cp in text:gmatch(".[\128-\191]?[\128-\191]?[\128-\191]?") do
    local id = tok.ids[cp]
    if id then
      out[#out + 1] = id
    else
      for k = 1, #cp do
        local b = cp:byte(k) + 3 -- ids 3..258 are <0x00>..<0xFF>
        if b >= tok.vocab_size then
          fail.raise(tok.path, "vocab", string.format(
            "byte fallback needs id %d, but vocab_size is %d", b, tok.vocab_size))
        end
        out[#out + 1] = b
      end
    end
  end
  return out
end

-- Binary max-heap of merge candidates in run.c's scan order: higher score
-- first, then lower position (node index), since run.c keeps the first of
-- equal scores it meets left to right.
local function new_heap()
  return { n = 0, score = {}, node = {}, ver = {} }
end

local function before(h, i, j)
  local si, sj = h.score[i], h.score[j]
  return si > sj or (si == sj and h.node[i] < h.node[j])
end

local function swap(h, i, j)
  h.score[i], h.score[j] = h.score[j], h.score[i]
  h.node[i], h.node[j] = h.node[j], h.node[i]
  h.ver[i], h.ver[j] = h.ver[j], h.ver[i]
end

local function push(h, score, node, ver)
  local i = h.n + 1
  h.n = i
  h.score[i], h.node[i], h.ver[i] = score, node, ver
  while i > 1 do
    local parent = i // 2
    if not before(h, i, parent) then break end
    swap(h, i, parent)
    i = parent
  end
end

-- Removes the top entry; returns its node and version.
local function pop(h)
  local node, ver = h.node[1], h.ver[1]
  local n = h.n
  swap(h, 1, n)
  h.score[n], h.node[n], h.ver[n] = nil, nil, nil
  n = n - 1
  h.n = n
  local i = 1
  while true do
    local l, r, best = 2 * i, 2 * i + 1, i
    if l <= n and before(h, l, best) then best = l end
    if r <= n and before(h, r, best) then best = r end
    if best == i then break end
    swap(h, i, best)
    i = best
  end
  return node, ver
end

-- The merge loop on a doubly linked list of nodes (the initial positions).
-- The left node of a merge survives, so node order stays text order, and a
-- node's version changes whenever its pair does, which retires stale entries.
local function merge_all(tok, ids)
  local n = #ids
  local nxt, prv, ver = {}, {}, {}
  local heap = new_heap()
  local scores = tok.scores
  for i = 1, n do
    nxt[i], prv[i], ver[i] = i + 1, i - 1, 0
  end
  nxt[n] = 0

  local function offer(i)
    ver[i] = ver[i] + 1
    local j = nxt[i]
    if j == 0 then return end
    local m = merge_of(tok, ids[i], ids[j])
    if m then push(heap, scores[m + 1], i, ver[i]) end
  end

  for i = 1, n - 1 do offer(i) end
  while heap.n > 0 do
    local i, v = pop(heap)
    if ver[i] == v then
      local j = nxt[i]
      ids[i] = merge_of(tok, ids[i], ids[j])
      ver[j] = ver[j] + 1 -- j is gone; its entries must not fire
      local k = nxt[j]
      nxt[i] = k
      if k ~= 0 then prv[k] = i end
      offer(i)
      if prv[i] ~= 0 then offer(prv[i]) end
    end
  end

  local out = {}
  local i = n > 0 and 1 or 0
  while i ~= 0 do
    out[#out + 1] = ids[i]
    i = nxt[i]
  end
  return out
end

-- tok:encode(text, bos, eos) -> array of token ids, as run.c's
-- encode(t, text, bos, eos, ...). bos/eos are booleans or C-style 0/1.
function tokenizer.encode(tok, text, bos, eos)
  text = c_string(text)
  local out = merge_all(tok, initial_tokens(tok, text, flag(bos)))
  if flag(eos) then out[#out + 1] = EOS end
  return out
end

local C_SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true }

-- The byte sscanf(piece, "<0x%02hhX>", &b) stores when it returns 1, else nil.
-- glibc's %2X allows leading whitespace, a sign and a "0x" prefix inside the
-- two-character width and ignores the rest, so "<0x4>" or "<0x41abc" count too.
local function scan_byte(piece)
  if piece:sub(1, 3) ~= "<0x" then return nil end
  local i = 4
  while C_SPACE[piece:byte(i)] do i = i + 1 end
  local width, negative, digits = 2, false, ""
  local c = piece:sub(i, i)
  if c == "+" or c == "-" then
    negative = c == "-"
    width = width - 1
    i = i + 1
    c = piece:sub(i, i)
  end
  if c == "0" and width > 0 then
    digits = "0"
    width = width - 1
    i = i + 1
    local x = piece:sub(i, i)
    if width > 0 and (x == "x" or x == "X") then
      width = width - 1
      i = i + 1
    end
  end
  while width > 0 do
    c = piece:sub(i, i)
    if c == "" or not c:find("^%x") then break end
    digits = digits .. c
    width = width - 1
    i = i + 1
  end
  if digits == "" then return nil end
  local value = tonumber(digits, 16)
  if negative then value = -value end
  return value & 0xFF
end

-- tok:decode(prev_token, token) -> the string run.c's decode() returns.
function tokenizer.decode(tok, prev_token, token)
  if math.type(token) ~= "integer" or token < 0 or token >= tok.vocab_size then
    error(string.format("token id %s out of range 0..%d", tostring(token), tok.vocab_size - 1), 2)
  end
  local piece = tok.cstr[token + 1]
  -- SentencePiece drops the dummy-prefix space of the first word after BOS.
  if prev_token == BOS and piece:byte(1) == 32 then piece = piece:sub(2) end
  local b = scan_byte(piece)
  if b then
    -- run.c returns a one-byte C string, which is empty for <0x00>.
    if b == 0 then return "" end
    return string.char(b)
  end
  return piece
end

-- tok:stream(first) -> { push(id) -> text to print now, finish() -> "" }:
-- the pieces of the tokens after first, printed as run.c prints them.
function tokenizer.stream(tok, first)
  local prev = first
  return {
    push = function(id)
      local text = tok:printable(tok:decode(prev, id))
      prev = id
      return text
    end,
    finish = function() return "" end,
  }
end

-- tok:decode_ids(ids) -> the text run.c prints for ids; a leading BOS is
-- where the text starts (it drops the next piece's space), not printed.
function tokenizer.decode_ids(tok, ids)
  local start = ids[1] == BOS and 2 or 1
  local stream, parts = tok:stream(ids[start - 1]), {}
  for i = start, #ids do parts[#parts + 1] = stream.push(ids[i]) end
  return table.concat(parts)
end

-- tok:printable(piece) -> what run.c's safe_printf(piece) writes: raw single
-- bytes only when printable or whitespace in the C locale, so byte tokens
-- cannot emit control codes.
function tokenizer.printable(_, piece)
  piece = c_string(piece)
  if #piece == 1 then
    local b = piece:byte()
    if not ((b >= 32 and b <= 126) or C_SPACE[b]) then return "" end
  end
  return piece
end

return tokenizer
