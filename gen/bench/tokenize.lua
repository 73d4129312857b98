-- The tokenizer's speed: tokenizer.json encoding of the byte-level goldens'
-- texts (../shared/tokenizers: the GPT-2 regex and the Llama 3 regex, each
-- with its own vocabulary), in MB of UTF-8 text per second, one thread.

local files = require "util.files"
local json = require "util.json"
local tokenizer_json = require "read.tokenizer_json"

local tokenize = {}

tokenize.TOKENIZERS = { "bytebpe_gpt2_2048", "bytebpe_llama3_2048" }
tokenize.MIN_SECONDS = 0.25 -- each run encodes the texts as many times as fill this

-- The tokenizers and their texts in dir, or nil when dir lacks any of them.
function tokenize.load(native, dir)
  local cases = {}
  for _, name in ipairs(tokenize.TOKENIZERS) do
    local tok_path, golden = dir .. "/" .. name .. ".tokenizer.json", dir .. "/" .. name .. ".goldens.jsonl"
    if not (files.exists(tok_path) and files.exists(golden)) then return nil end
    local texts, bytes = {}, 0
    for line in files.read(golden):gmatch("[^\n]+") do
      local text = json.decode(line).text
      texts[#texts + 1], bytes = text, bytes + #text
    end
    cases[#cases + 1] = { tok = tokenizer_json.open(native, tok_path), texts = texts, bytes = bytes }
  end
  return cases
end

-- One run over every case: MB/s, the texts' bytes over the time encoding them.
function tokenize.run(native, cases)
  local bytes, seconds = 0, 0
  for _, c in ipairs(cases) do
    local passes, t0 = 0, native.monotonic()
    repeat
      for _, text in ipairs(c.texts) do c.tok:encode(text, false, false) end
      passes = passes + 1
    until native.monotonic() - t0 >= tokenize.MIN_SECONDS / #cases
    bytes, seconds = bytes + passes * c.bytes, seconds + (native.monotonic() - t0)
  end
  return bytes / 1e6 / seconds
end

return tokenize
