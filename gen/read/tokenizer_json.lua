-- Reader for Hugging Face tokenizer.json, encoding and decoding exactly as
-- the `tokenizers` library does (its pipeline: added tokens split out of the
-- text first, normalizer, pre-tokenizer, BPE model; decoder for the way back).
--
-- Implemented: model BPE (vocab, ranked merges, byte_fallback, fuse_unk,
-- unk_token, ignore_merges); normalizers Sequence, Prepend, Replace, Strip,
-- NFC, NFD, NFKC, NFKD; pre-tokenizers Sequence, Metaspace, ByteLevel (with
-- the GPT-2 regex), Split (a string or a regex; every split behavior);
-- added_tokens (lstrip, rstrip, single_word, normalized); decoders Sequence,
-- Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace. The post-processor
-- is not applied: BOS and EOS come from the model, as for tokenizer.bin.
-- Anything else a file declares is refused by name, in one line. The regexes
-- (native regex.c) and normalization forms (unicode.c) use the Unicode
-- Character Database; the merges run in C (bpe.c).

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"

local tokenizer_json = {}

local NULL = json.decoded_null
local GPT2_PATTERN = [['s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+]]

-- GPT-2's bytes_to_unicode: each byte as a printable character (its UTF-8).
local BYTE_CHAR, CHAR_BYTE = {}, {}
do
  local n = 0
  for b = 0, 255 do
    local printable = (b >= 33 and b <= 126) or (b >= 161 and b <= 172) or (b >= 174)
    local cp = printable and b or (256 + n)
    if not printable then n = n + 1 end
    BYTE_CHAR[string.char(b)] = utf8.char(cp)
    CHAR_BYTE[utf8.char(cp)] = string.char(b)
  end
end

local function present(v) return v ~= nil and v ~= NULL end

-- Refusals name the file and the field: path is the file, field e.g. "pre_tokenizer.type".
local function refuse(ctx, field, message) fail.raise(ctx.path, field, message) end

local function string_field(ctx, t, key, field)
  local v = t[key]
  if type(v) ~= "string" then refuse(ctx, field .. "." .. key, "must be a string") end
  return v
end

-- A pattern of Split and Replace: { String = "..." } or { Regex = "..." }.
local function pattern_of(ctx, native, p, field)
  if type(p) ~= "table" then refuse(ctx, field, "must be {\"String\": ...} or {\"Regex\": ...}") end
  if type(p.String) == "string" then return { plain = p.String } end
  if type(p.Regex) == "string" then
    local re, err = native.regex(p.Regex)
    if not re then refuse(ctx, field .. ".Regex", err) end
    return { regex = re, path = ctx.path, field = field .. ".Regex" }
  end
  refuse(ctx, field, "must be {\"String\": ...} or {\"Regex\": ...}")
end

-- Matches of a pattern in s: { start1, stop1, start2, stop2, ... } byte
-- offsets (start 0-based, stop exclusive: 1-based inclusive ranges
-- start + 1 .. stop).
local function find_matches(pattern, s)
  if pattern.regex then
    local offs, err = pattern.regex:find_all(s)
    if not offs then fail.raise(pattern.path, pattern.field, string.format("%s (%d bytes)", err, #s)) end
    return offs
  end
  local out, at = {}, 1
  if pattern.plain == "" then return out end
  while true do
    local a, b = s:find(pattern.plain, at, true)
    if not a then break end
    out[#out + 1], out[#out + 2] = a - 1, b
    at = b + 1
  end
  return out
end

local function replace_all(pattern, s, content)
  if pattern.plain then
    if pattern.plain == "" then return s end
    return (s:gsub(pattern.plain:gsub("%W", "%%%0"), (content:gsub("%%", "%%%%"))))
  end
  local parts, at = {}, 1
  local m = find_matches(pattern, s)
  for i = 1, #m, 2 do
    parts[#parts + 1] = s:sub(at, m[i])
    parts[#parts + 1] = content
    at = m[i + 1] + 1
  end
  parts[#parts + 1] = s:sub(at)
  return table.concat(parts)
end

local function is_space(c)
  return c == " " or c == "\t" or c == "\n" or c == "\r" or c == "\v" or c == "\f"
end

-- The component v (a normalizer, pre-tokenizer or decoder, at field) made by
-- kinds[v.type]; nil for null.
local function component_of(kinds, ctx, native, v, field)
  if not present(v) then return nil end
  if type(v) ~= "table" then refuse(ctx, field, "must be an object or null") end
  local make = kinds[v.type]
  if not make then refuse(ctx, field .. ".type", string.format("%s is not supported", tostring(v.type))) end
  return make(ctx, native, v, field)
end

-- The maker of a Sequence of kinds, listed under key: each applied in turn.
local function sequence_of(kinds, key)
  return function(ctx, native, v, field)
    if type(v[key]) ~= "table" then refuse(ctx, field .. "." .. key, "must be a list") end
    local list = {}
    for i, sub in ipairs(v[key]) do
      list[#list + 1] = component_of(kinds, ctx, native, sub, string.format("%s.%s[%d]", field, key, i - 1))
    end
    return function(x)
      for _, f in ipairs(list) do x = f(x) end
      return x
    end
  end
end

---------------------------------------------------------------------------
-- Normalizers: text -> text.

local NORMALIZERS = {}

NORMALIZERS.Sequence = sequence_of(NORMALIZERS, "normalizers")

function NORMALIZERS.Prepend(ctx, _, n, field)
  local p = string_field(ctx, n, "prepend", field)
  return function(s) return s == "" and s or p .. s end
end

function NORMALIZERS.Replace(ctx, native, n, field)
  local pattern = pattern_of(ctx, native, n.pattern, field .. ".pattern")
  local content = string_field(ctx, n, "content", field)
  return function(s) return replace_all(pattern, s, content) end
end

function NORMALIZERS.Strip(_, _, n)
  local left, right = n.strip_left ~= false, n.strip_right ~= false
  return function(s)
    if left then s = s:gsub("^[ \t\n\r\v\f]+", "") end
    if right then s = s:gsub("[ \t\n\r\v\f]+$", "") end
    return s
  end
end

for _, form in ipairs({ "NFC", "NFD", "NFKC", "NFKD" }) do
  NORMALIZERS[form] = function(_, native)
    return function(s) return native.unicode_normalize(s, form) end
  end
end

---------------------------------------------------------------------------
-- Pre-tokenizers: a list of pieces { text, first } (first: the piece starts
-- where the text starts) -> the list of pieces after splitting.

local PRE_TOKENIZERS = {}

-- Splits one piece at the matches (find_matches' offsets), as tokenizers'
-- SplitDelimiterBehavior says.
local function split_piece(piece, matches, behavior, invert)
  local s = piece.text
  if behavior == "Isolated" then -- the common case, without the spans
    local out, at = {}, 1
    for i = 1, #matches, 2 do
      local a, b = matches[i] + 1, matches[i + 1]
      if a > at then out[#out + 1] = { text = s:sub(at, a - 1), first = piece.first and at == 1 } end
      if b >= a then out[#out + 1] = { text = s:sub(a, b), first = piece.first and a == 1 } end
      at = b + 1
    end
    if at <= #s then out[#out + 1] = { text = s:sub(at), first = piece.first and at == 1 } end
    return out
  end
  local spans, at = {}, 1 -- { start, stop, is_match }
  for i = 1, #matches, 2 do
    local a, b = matches[i] + 1, matches[i + 1]
    if a > at then spans[#spans + 1] = { at, a - 1, invert } end
    spans[#spans + 1] = { a, b, not invert }
    at = b + 1
  end
  if at <= #s then spans[#spans + 1] = { at, #s, invert } end
  local kept = {}
  if behavior == "Removed" then
    for _, sp in ipairs(spans) do
      if not sp[3] then kept[#kept + 1] = sp end
    end
  elseif behavior == "Contiguous" then
    local previous
    for _, sp in ipairs(spans) do
      if previous ~= nil and sp[3] == previous then kept[#kept][2] = sp[2] else kept[#kept + 1] = { sp[1], sp[2] } end
      previous = sp[3]
    end
  elseif behavior == "MergedWithPrevious" then
    local previous = false
    for _, sp in ipairs(spans) do
      if sp[3] and not previous and #kept > 0 then kept[#kept][2] = sp[2] else kept[#kept + 1] = { sp[1], sp[2] } end
      previous = sp[3]
    end
  else -- MergedWithNext
    local previous = false
    for i = #spans, 1, -1 do
      local sp = spans[i]
      if sp[3] and not previous and #kept > 0 then kept[#kept][1] = sp[1] else kept[#kept + 1] = { sp[1], sp[2] } end
      previous = sp[3]
    end
    local r = {}
    for i = #kept, 1, -1 do r[#r + 1] = kept[i] end
    kept = r
  end
  local out = {}
  for _, sp in ipairs(kept) do
    if sp[2] >= sp[1] then out[#out + 1] = { text = s:sub(sp[1], sp[2]), first = piece.first and sp[1] == 1 } end
  end
  return out
end

local BEHAVIORS = { Removed = true, Isolated = true, MergedWithPrevious = true, MergedWithNext = true,
  Contiguous = true }

PRE_TOKENIZERS.Sequence = sequence_of(PRE_TOKENIZERS, "pretokenizers")

function PRE_TOKENIZERS.Split(ctx, native, p, field)
  local pattern = pattern_of(ctx, native, p.pattern, field .. ".pattern")
  if not BEHAVIORS[p.behavior] then
    refuse(ctx, field .. ".behavior", string.format("%s is not a split behavior", tostring(p.behavior)))
  end
  local invert = p.invert == true
  return function(pieces)
    local out = {}
    for _, piece in ipairs(pieces) do
      for _, q in ipairs(split_piece(piece, find_matches(pattern, piece.text), p.behavior, invert)) do out[#out + 1] = q end
    end
    return out
  end
end

function PRE_TOKENIZERS.Metaspace(ctx, _, p, field)
  local rep = string_field(ctx, p, "replacement", field)
  if utf8.len(rep) ~= 1 then refuse(ctx, field .. ".replacement", "must be one character") end
  local scheme = p.prepend_scheme
  if not present(scheme) then scheme = p.add_prefix_space == false and "never" or "always" end
  if scheme ~= "always" and scheme ~= "first" and scheme ~= "never" then
    refuse(ctx, field .. ".prepend_scheme", string.format("%s is not always, first or never", tostring(scheme)))
  end
  local split = p.split ~= false
  local delimiter = { plain = rep }
  return function(pieces)
    local out = {}
    for _, piece in ipairs(pieces) do
      local s = piece.text:gsub(" ", rep)
      if s:sub(1, #rep) ~= rep and (scheme == "always" or (scheme == "first" and piece.first)) then s = rep .. s end
      local q = { text = s, first = piece.first }
      if split then
        for _, r in ipairs(split_piece(q, find_matches(delimiter, s), "MergedWithNext", false)) do out[#out + 1] = r end
      elseif s ~= "" then
        out[#out + 1] = q
      end
    end
    return out
  end
end

function PRE_TOKENIZERS.ByteLevel(ctx, native, p, field)
  local prefix = p.add_prefix_space == true
  local gpt2 = p.use_regex ~= false and { regex = assert(native.regex(GPT2_PATTERN)), path = ctx.path,
    field = field .. ".use_regex" } or nil
  return function(pieces)
    local out = {}
    for _, piece in ipairs(pieces) do
      local q = piece
      if prefix and piece.text:sub(1, 1) ~= " " then q = { text = " " .. piece.text, first = piece.first } end
      local parts = gpt2 and split_piece(q, find_matches(gpt2, q.text), "Isolated", false) or { q }
      for _, r in ipairs(parts) do
        r.text = r.text:gsub(".", BYTE_CHAR)
        out[#out + 1] = r
      end
    end
    return out
  end
end

---------------------------------------------------------------------------
-- Decoders: a list of token strings -> a list of strings (joined at the end).

local DECODERS = {}

DECODERS.Sequence = sequence_of(DECODERS, "decoders")

function DECODERS.Replace(ctx, native, d, field)
  local pattern = pattern_of(ctx, native, d.pattern, field .. ".pattern")
  local content = string_field(ctx, d, "content", field)
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do out[i] = replace_all(pattern, t, content) end
    return out
  end
end

function DECODERS.ByteFallback(_, native)
  return function(tokens)
    local out, bytes = {}, {}
    local function flush()
      if #bytes == 0 then return end
      local s = table.concat(bytes)
      if native.utf8_invalid_at(s) then
        for _ = 1, #bytes do out[#out + 1] = "\u{FFFD}" end
      else
        out[#out + 1] = s
      end
      bytes = {}
    end
    for _, t in ipairs(tokens) do
      local hex = #t == 6 and t:match("^<0x(%x%x)>$")
      if hex then
        bytes[#bytes + 1] = string.char(tonumber(hex, 16))
      else
        flush()
        out[#out + 1] = t
      end
    end
    flush()
    return out
  end
end

function DECODERS.Fuse()
  return function(tokens) return { table.concat(tokens) } end
end

function DECODERS.Strip(ctx, _, d, field)
  local content = string_field(ctx, d, "content", field)
  if utf8.len(content) ~= 1 then refuse(ctx, field .. ".content", "must be one character") end
  local start, stop = math.tointeger(d.start) or 0, math.tointeger(d.stop) or 0
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do
      local a, b = 1, #t
      for _ = 1, start do
        if t:sub(a, a + #content - 1) ~= content then break end
        a = a + #content
      end
      for _ = 1, stop do
        if b - #content + 1 < a or t:sub(b - #content + 1, b) ~= content then break end
        b = b - #content
      end
      out[i] = t:sub(a, b)
    end
    return out
  end
end

function DECODERS.ByteLevel(_, native)
  return function(tokens)
    local bytes = {}
    for _, t in ipairs(tokens) do
      local mapped, ok = {}, true
      for _, c in utf8.codes(t) do
        local b = CHAR_BYTE[utf8.char(c)]
        if not b then ok = false; break end
        mapped[#mapped + 1] = b
      end
      bytes[#bytes + 1] = ok and table.concat(mapped) or t
    end
    return { native.utf8_lossy(table.concat(bytes)) }
  end
end

function DECODERS.Metaspace(ctx, _, d, field)
  local rep = string_field(ctx, d, "replacement", field)
  local scheme = present(d.prepend_scheme) and d.prepend_scheme or (d.add_prefix_space == false and "never" or "always")
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do out[i] = t:gsub(rep:gsub("%W", "%%%0"), (i == 1 and scheme ~= "never") and "" or " ") end
    return out
  end
end

---------------------------------------------------------------------------
-- The model.

local MODEL_FLAGS = { "byte_fallback", "fuse_unk", "ignore_merges" }

local function model_of(ctx, native, m)
  if type(m) ~= "table" then refuse(ctx, "model", "missing") end
  if m.type ~= "BPE" then refuse(ctx, "model.type", string.format("%s is not supported (BPE)", tostring(m.type))) end
  if present(m.dropout) and m.dropout ~= 0 then refuse(ctx, "model.dropout", "BPE dropout is not supported") end
  for _, key in ipairs({ "continuing_subword_prefix", "end_of_word_suffix" }) do
    if present(m[key]) and m[key] ~= "" then refuse(ctx, "model." .. key, "is not supported") end
  end
  if type(m.vocab) ~= "table" then refuse(ctx, "model.vocab", "must be an object of token: id") end
  local vocab, by_id = {}, {}
  for token, id in pairs(m.vocab) do
    if type(token) ~= "string" or type(id) ~= "number" or id ~= math.floor(id) or id < 0 or id >= 1 << 24 then
      refuse(ctx, "model.vocab", string.format("entry %q: %s is not a token id", tostring(token), tostring(id)))
    end
    id = math.tointeger(id)
    if by_id[id] then refuse(ctx, "model.vocab", string.format("id %d is given to %q and %q", id, by_id[id], token)) end
    vocab[token], by_id[id] = id, token
  end
  if type(m.merges) ~= "table" then refuse(ctx, "model.merges", "must be a list") end
  local merges = {}
  for i, mg in ipairs(m.merges) do
    if type(mg) == "string" then -- the older "left right" form
      local a, b = mg:match("^(%S+) (%S+)$")
      if not a then refuse(ctx, string.format("model.merges[%d]", i - 1), "is not \"left right\"") end
      merges[i] = { a, b }
    elseif type(mg) == "table" and #mg == 2 and type(mg[1]) == "string" and type(mg[2]) == "string" then
      merges[i] = mg
    else
      refuse(ctx, string.format("model.merges[%d]", i - 1), "is not a pair of tokens")
    end
  end
  local unk
  if present(m.unk_token) then
    unk = vocab[m.unk_token]
    if not unk then refuse(ctx, "model.unk_token", string.format("%q is not in the vocab", tostring(m.unk_token))) end
  end
  local opts = { unk = unk }
  for _, key in ipairs(MODEL_FLAGS) do opts[key] = m[key] == true end
  local bpe, err = native.bpe(vocab, merges, opts)
  if not bpe then refuse(ctx, "model." .. err:match("^(%S+):"), err:gsub("^%S+: ", "")) end
  return bpe, by_id
end

---------------------------------------------------------------------------

local Tokenizer = {}
Tokenizer.__index = Tokenizer

-- Splits s at the added tokens of list (leftmost, longest at a position),
-- as tokenizers' AddedVocabulary does; returns pieces { text, first } and
-- tokens { id }.
local function split_added(list, piece)
  if #list == 0 then return { piece } end
  local s, out, at = piece.text, {}, 1
  local pos = 1
  while pos <= #s do
    local best, best_a, best_b
    for _, tok in ipairs(list) do
      local a, b = s:find(tok.content, pos, true)
      if a and (not best_a or a < best_a or (a == best_a and b > best_b)) then best, best_a, best_b = tok, a, b end
    end
    if not best then break end
    local a, b = best_a, best_b
    local ok = true
    if best.single_word then
      local before, after = s:sub(a - 1, a - 1), s:sub(b + 1, b + 1)
      ok = (a == 1 or not before:match("[%w_]")) and (b == #s or not after:match("[%w_]"))
    end
    if ok then
      if best.lstrip then
        while a > at and is_space(s:sub(a - 1, a - 1)) do a = a - 1 end
      end
      if best.rstrip then
        while b < #s and is_space(s:sub(b + 1, b + 1)) do b = b + 1 end
      end
      if a > at then out[#out + 1] = { text = s:sub(at, a - 1), first = piece.first and at == 1 } end
      out[#out + 1] = { id = best.id }
      at = b + 1
      pos = at
    else
      pos = best_a + 1
    end
  end
  if at <= #s then out[#out + 1] = { text = s:sub(at), first = piece.first and at == 1 } end
  return out
end

-- encode(text, bos, eos) -> ids: as tokenizers' encode with no special tokens
-- added, then BOS / EOS when asked (the model's, given at open).
function Tokenizer:encode(text, bos, eos)
  local bad = self.native.utf8_invalid_at(text)
  if bad then fail.raise(nil, "text", string.format("invalid UTF-8 at byte %d", bad)) end
  local ids, n = {}, 0
  if bos and bos ~= 0 then n = n + 1; ids[n] = self.bos end
  local pieces = split_added(self.raw_added, { text = text, first = true })
  for _, p in ipairs(pieces) do
    if p.id then
      n = n + 1
      ids[n] = p.id
    else
      local q = p
      if self.normalizer then q = { text = self.normalizer(p.text), first = p.first } end
      for _, r in ipairs(split_added(self.normalized_added, q)) do
        if r.id then
          n = n + 1
          ids[n] = r.id
        else
          local words = self.pre_tokenizer and self.pre_tokenizer({ r }) or { r }
          for _, w in ipairs(words) do n = self.bpe:encode(w.text, ids, n) end
        end
      end
    end
  end
  if eos and eos ~= 0 then n = n + 1; ids[n] = self.eos end
  return ids
end

-- decode_ids(ids) -> text, as tokenizers' decode (special tokens kept).
function Tokenizer:decode_ids(ids)
  local tokens = {}
  for i, id in ipairs(ids) do
    local t = self.by_id[id]
    if not t then fail.raise(self.path, "ids", string.format("%d is not a token id", id)) end
    tokens[i] = t
  end
  if self.decoder then tokens = self.decoder(tokens) end
  return table.concat(tokens)
end

-- stream() -> { push(id) -> text to print now, finish() -> the rest }: the
-- decoded text of the ids pushed (run pushes those after BOS), printed as it
-- grows; a trailing U+FFFD (a UTF-8 sequence whose bytes have not all
-- arrived) is held back. stream takes no first id: the decoder strips the
-- first token's space itself.
function Tokenizer:stream()
  local ids, printed = {}, 0
  local tok = self
  local function emit(final)
    local text = tok:decode_ids(ids)
    local stable = #text
    if not final then
      while stable >= 3 and text:sub(stable - 2, stable) == "\u{FFFD}" do stable = stable - 3 end
    end
    if stable <= printed then return "" end
    local out = text:sub(printed + 1, stable)
    printed = stable
    return out
  end
  return {
    push = function(id)
      ids[#ids + 1] = id
      return emit(false)
    end,
    finish = function() return emit(true) end,
  }
end

-- open(native, path, vocab_size, special) -> tokenizer. special: { bos = id, eos = id }.
function tokenizer_json.open(native, path, vocab_size, special)
  local text = files.read(path)
  local doc, err = json.decode(text)
  local ctx = { path = path }
  if type(doc) ~= "table" or #doc > 0 then refuse(ctx, "json", "not a JSON object" .. (err and (": " .. tostring(err)) or "")) end
  if present(doc.truncation) then refuse(ctx, "truncation", "is not supported") end
  if present(doc.padding) then refuse(ctx, "padding", "is not supported") end
  local bpe, by_id = model_of(ctx, native, doc.model)
  local tok = setmetatable({ native = native, path = path, bpe = bpe, by_id = by_id, raw_added = {},
    normalized_added = {}, bos = special and special.bos or 1, eos = special and special.eos or 2 }, Tokenizer)
  if present(doc.added_tokens) then
    if type(doc.added_tokens) ~= "table" then refuse(ctx, "added_tokens", "must be a list") end
    for i, a in ipairs(doc.added_tokens) do
      local field = string.format("added_tokens[%d]", i - 1)
      if type(a) ~= "table" or type(a.content) ~= "string" or a.content == "" or type(a.id) ~= "number" then
        refuse(ctx, field, "needs an id and a non-empty content")
      end
      local id = math.tointeger(a.id)
      if not id or id < 0 then refuse(ctx, field .. ".id", tostring(a.id) .. " is not a token id") end
      if by_id[id] and by_id[id] ~= a.content then
        refuse(ctx, field .. ".id", string.format("%d is %q in the vocab", id, by_id[id]))
      end
      by_id[id] = a.content
      local entry = { id = id, content = a.content, lstrip = a.lstrip == true, rstrip = a.rstrip == true,
        single_word = a.single_word == true }
      local list = (a.normalized == true and not a.special) and tok.normalized_added or tok.raw_added
      list[#list + 1] = entry
    end
  end
  tok.normalizer = component_of(NORMALIZERS, ctx, native, doc.normalizer, "normalizer")
  -- normalized added tokens are looked for in normalized text, normalized themselves
  for _, entry in ipairs(tok.normalizer and tok.normalized_added or {}) do entry.content = tok.normalizer(entry.content) end
  tok.pre_tokenizer = component_of(PRE_TOKENIZERS, ctx, native, doc.pre_tokenizer, "pre_tokenizer")
  tok.decoder = component_of(DECODERS, ctx, native, doc.decoder, "decoder")
  local post = doc.post_processor
  if present(post) and (type(post) ~= "table" or (post.type ~= "TemplateProcessing" and post.type ~= "ByteLevel")) then
    refuse(ctx, "post_processor.type", string.format("%s is not supported", type(post) == "table" and tostring(post.type) or "?"))
  end
  local largest = -1
  for id in pairs(by_id) do largest = math.max(largest, id) end
  if vocab_size and largest >= vocab_size then
    refuse(ctx, "model.vocab", string.format("token id %d, but the model's vocabulary has %d", largest, vocab_size))
  end
  tok.vocab_size = largest + 1
  return tok
end

return tokenizer_json
