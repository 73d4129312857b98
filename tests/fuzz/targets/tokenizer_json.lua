-- A Hugging Face tokenizer.json: opened (model, normalizer, pre-tokenizer
-- with its regexes, decoder), then texts encoded and decoded, and every id
-- decoded.
local tokenizer_json = require "read.tokenizer_json"
local fail = require "util.fail"

local TEXTS = { "", "Once upon a time, there was a little girl.", " a\n\tb  c  ", "\u{00FC}ber \u{1F600} caf\u{0065}\u{0301} \u{FB01}",
  "<s>hello</s> <unk>", "I'm 123 don't", "\u{0000}x\u{00A0}y" }

return function(fuzz, data)
  local tok = tokenizer_json.open(fuzz.native, fuzz.file("tokenizer.json", data), nil, { bos = 1, eos = 2 })
  for _, text in ipairs(TEXTS) do
    local ids = tok:encode(text, true, true)
    -- ids (BOS and EOS included) need not all be in a fuzzed vocab: a refusal
    fail.catch(tok.decode_ids, tok, ids)
  end
  local s = tok:stream()
  local n = math.min(tok.vocab_size, 4096)
  for id = 0, n - 1 do
    if tok.by_id[id] then
      tok:decode_ids({ id })
      s.push(id)
    end
  end
  s.finish()
end
