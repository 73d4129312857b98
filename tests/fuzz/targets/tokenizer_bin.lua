-- A llama2.c tokenizer.bin: the first two bytes (little-endian) are the
-- model's vocab_size - 1, the rest the file; opened, then texts encoded and
-- every id decoded.
local tokenizer = require "read.tokenizer"
local fail = require "util.fail"

local TEXTS = { "", "Once upon a time, there was a little girl.", " a\n\tb  c", "\u{00FC}ber \u{1F600} <0x41>", "\0\255x" }

return function(fuzz, data)
  if #data < 2 then return end
  local vocab = string.unpack("<I2", data) % 4096 + 1
  local tok = tokenizer.open(fuzz.file("tokenizer.bin", data:sub(3)), vocab)
  for _, text in ipairs(TEXTS) do
    -- a text the vocab cannot spell is refused; the others go on
    -- (BOS 1 and EOS 2 only when they are ids of the vocab)
    local ok, ids = fail.catch(tok.encode, tok, text, vocab > 2, vocab > 2)
    if ok then tok:decode_ids(ids) end
  end
  local s = tok:stream(1)
  for id = 0, vocab - 1 do tok:decode(1, id); tok:printable(tok.vocab[id + 1]); s.push(id) end
end
