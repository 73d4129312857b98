-- The tokenizer a tokenizer.json makes: encode as the `tokenizers` library's
-- pipeline does (added tokens split out of the text first, normalizer,
-- pre-tokenizer, BPE model), decode through its decoder, and a stream of
-- decoded text for printing as tokens come.

local fail = require "util.fail"
local added_tokens = require "read.tokenizer_json.added_tokens"

local Tokenizer = {}
Tokenizer.__index = Tokenizer

local split_added = added_tokens.split

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

return Tokenizer
