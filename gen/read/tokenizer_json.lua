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
--
-- This file reads the document and checks what it declares as a whole; each
-- part has its module in read/tokenizer_json/, and tokenizer.lua there is
-- the object open returns.

local files = require "util.files"
local json = require "util.json"
local fields = require "read.tokenizer_json.fields"
local bpe_model = require "read.tokenizer_json.bpe_model"
local added_tokens = require "read.tokenizer_json.added_tokens"
local NORMALIZERS = require "read.tokenizer_json.normalizers"
local PRE_TOKENIZERS = require "read.tokenizer_json.pre_tokenizers"
local DECODERS = require "read.tokenizer_json.decoders"
local Tokenizer = require "read.tokenizer_json.tokenizer"

local tokenizer_json = {}

local present, refuse, component_of = fields.present, fields.refuse, fields.component_of

-- Every string of the document, keys too, is UTF-8, as tokenizers' own
-- reader (serde_json) demands: lua-cjson passes invalid bytes, and a lone
-- surrogate (\ud800) as three bytes that are not UTF-8, into the tokens.
local function check_utf8(ctx, native, v, where)
  for k, x in pairs(v) do
    local field = type(k) == "string" and (where == "" and k or where .. "." .. k) or string.format("%s[%d]", where, k - 1)
    if type(k) == "string" and native.utf8_invalid_at(k) then refuse(ctx, where == "" and "json" or where, "a key is not UTF-8") end
    if type(x) == "string" and native.utf8_invalid_at(x) then refuse(ctx, field, "is not UTF-8") end
    if type(x) == "table" then check_utf8(ctx, native, x, field) end
  end
end

-- open(native, path, vocab_size, special) -> tokenizer. special: { bos = id, eos = id }.
function tokenizer_json.open(native, path, vocab_size, special)
  local text = files.read(path)
  local doc, err = json.decode(text)
  local ctx = { path = path }
  if type(doc) ~= "table" or #doc > 0 then refuse(ctx, "json", "not a JSON object" .. (err and (": " .. tostring(err)) or "")) end
  check_utf8(ctx, native, doc, "")
  if present(doc.truncation) then refuse(ctx, "truncation", "is not supported") end
  if present(doc.padding) then refuse(ctx, "padding", "is not supported") end
  local bpe, by_id = bpe_model.of(ctx, native, doc.model)
  local tok = setmetatable({ native = native, path = path, bpe = bpe, by_id = by_id, raw_added = {},
    normalized_added = {}, bos = special and special.bos or 1, eos = special and special.eos or 2 }, Tokenizer)
  added_tokens.read(ctx, doc, by_id, tok.raw_added, tok.normalized_added)
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
