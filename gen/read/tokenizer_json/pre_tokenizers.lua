-- The pre-tokenizers of tokenizer.json, by type: Sequence, Split (a string or
-- a regex; every split behavior), Metaspace, ByteLevel (with the GPT-2
-- regex). Each takes a list of pieces { text, first } (first: the piece
-- starts where the text starts) to the list of pieces after splitting.

local fields = require "read.tokenizer_json.fields"
local patterns = require "read.tokenizer_json.patterns"
local byte_level = require "read.tokenizer_json.byte_level"

local PRE_TOKENIZERS = {}

local present, refuse, string_field = fields.present, fields.refuse, fields.string_field
local find_matches = patterns.find_matches
local BYTE_CHAR = byte_level.BYTE_CHAR

local GPT2_PATTERN = [['s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+]]

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

PRE_TOKENIZERS.Sequence = fields.sequence_of(PRE_TOKENIZERS, "pretokenizers")
function PRE_TOKENIZERS.Split(ctx, native, p, field)
  local pattern = patterns.of(ctx, native, p.pattern, field .. ".pattern")
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

return PRE_TOKENIZERS
