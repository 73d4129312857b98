-- Writes the fuzzers' seed corpora, tests/fuzz/corpus/TARGET/: small valid
-- inputs of each reader (a tiny model in every format, tokenizers, patterns),
-- so the fuzzers start inside the formats. Run from the repository root:
--   lua5.4 tests/fuzz/make_seeds.lua
-- The seeds are committed; this script is how they were made.

package.path = "gen/?.lua;tests/fuzz/?.lua;" .. package.path
package.cpath = ".build/?.so;" .. package.cpath
local native = require "kiln_native"
local checkpoint = require "read.checkpoint"
local convert = require "write.convert"
local st_write = require "write.safetensors"
local gguf_write = require "write.gguf"

local SEPARATOR = "\0--kiln-fuzz--\0"

local function write(target, name, bytes)
  os.execute("mkdir -p tests/fuzz/corpus/" .. target)
  local f = assert(io.open("tests/fuzz/corpus/" .. target .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

-- A tiny llama2.c checkpoint of one layer: dim 4, hidden 8, 2 heads (kv_heads
-- given), vocab 8 (negative: a separate classifier), seq_len 4, weights from
-- an LCG seeded with 12345; shape overrides dim, hidden, heads, seq and seed.
local function llama2c(kv_heads, vocab_size, shape)
  shape = shape or {}
  local dim, hidden, layers, heads, seq = shape.dim or 4, shape.hidden or 8, 1, shape.heads or 2, shape.seq or 4
  local vocab, hd = math.abs(vocab_size), dim // heads
  local count = vocab * dim + layers * (dim + heads * hd * dim + 2 * kv_heads * hd * dim + dim * heads * hd + dim
    + 3 * hidden * dim) + dim + 2 * seq * (hd // 2) + (vocab_size < 0 and vocab * dim or 0)
  local parts = { string.pack("<i4i4i4i4i4i4i4", dim, hidden, layers, heads, kv_heads, vocab_size, seq) }
  local x = shape.seed or 12345
  for _ = 1, count do
    x = (x * 1103515245 + 12345) % 2147483648
    parts[#parts + 1] = string.pack("<f", (x / 2147483648 - 0.5) * 0.25)
  end
  return table.concat(parts)
end

-- a fixed file name: GGUF's general.name is the checkpoint's
local tmpdir = io.popen("mktemp -d"):read("l")
local tmp = tmpdir .. "/tiny.bin"
local function open_llama2c(bytes)
  local f = assert(io.open(tmp, "wb"))
  f:write(bytes)
  f:close()
  return checkpoint.open(tmp)
end

write("llama2c", "tiny_shared.bin", llama2c(2, 8))
write("llama2c", "tiny_gqa_untied.bin", llama2c(1, -8))

local ckpt = open_llama2c(llama2c(1, 8))
for _, dtype in ipairs({ "fp32", "fp16", "bf16" }) do
  local meta, entries, data = convert.gguf_parts(native, ckpt, dtype)
  write("gguf", "tiny_" .. dtype .. ".gguf", gguf_write.header(meta, entries) .. table.concat(data))
  local st_entries, st_data, config = convert.hf_parts(native, ckpt, dtype)
  local st = st_write.header(st_entries, { { "format", "pt" } }) .. table.concat(st_data)
  write("safetensors", "tiny_" .. dtype .. ".safetensors", st)
  write("hf", "tiny_" .. dtype, config .. SEPARATOR .. st)
end

-- A GGUF with Q8_0 matrices (blocks of 32 along rows: dim and hidden 32).
-- gen/write/gguf.lua writes F32, F16 and BF16 only: Q8_0 is added to its
-- type table here, for this seed.
do
  local i = 1
  while true do
    local name, types = debug.getupvalue(gguf_write.header, i)
    if not name then error("no TYPES in write.gguf") end
    if name == "TYPES" then types.q8_0 = { 8, 34 / 32 } break end
    i = i + 1
  end
end
local function q8_0(bytes)
  local out, n = {}, #bytes // 4
  for b = 0, n // 32 - 1 do
    local xs, amax = {}, 0
    for j = 1, 32 do
      xs[j] = string.unpack("<f", bytes, (b * 32 + j - 1) * 4 + 1)
      amax = math.max(amax, math.abs(xs[j]))
    end
    local d = amax / 127
    local dh = native.tensor({ d }):converted("fp16"):bytes()
    local codes = {}
    for j = 1, 32 do codes[j] = string.pack("<i1", d > 0 and math.floor(xs[j] / d + 0.5) or 0) end
    out[#out + 1] = dh .. table.concat(codes)
  end
  return table.concat(out)
end
-- dim 32: rows of whole Q8_0 blocks
local function llama2c_32() return llama2c(1, 8, { dim = 32, hidden = 32, seed = 777 }) end
do
  local meta, entries, data = convert.gguf_parts(native, open_llama2c(llama2c_32()), "fp32")
  for i, e in ipairs(entries) do
    if #e.shape == 2 then
      e.dtype = "q8_0"
      local bytes = q8_0(data[i]:sub(1, e.shape[1] * e.shape[2] * 4))
      data[i] = bytes .. string.rep("\0", gguf_write.padding(#bytes))
    end
  end
  write("gguf", "dim32_q8_0.gguf", gguf_write.header(meta, entries) .. table.concat(data))
end
os.execute("rm -rf '" .. tmpdir .. "'")

-- A tokenizer.bin of 8 tokens: max_token_length, then score, length, bytes.
local toks = { "<unk>", "<s>", "</s>", " ", "a", "b", " a", "<0x41>" }
local bin = { string.pack("<i4", 6) }
for i, t in ipairs(toks) do bin[#bin + 1] = string.pack("<fi4", -i * 0.5, #t) .. t end
write("tokenizer_bin", "tiny8", string.pack("<I2", 7) .. table.concat(bin))
-- run.c's layout: <unk>, <s>, </s>, the 256 byte tokens, then pieces.
toks = { "<unk>", "<s>", "</s>" }
for b = 0, 255 do toks[#toks + 1] = string.format("<0x%02X>", b) end
for _, t in ipairs({ " ", "e", "t", " t", "he", " the", "on", "ce", " Once", "\u{00FC}" }) do toks[#toks + 1] = t end
bin = { string.pack("<i4", 6) }
for i, t in ipairs(toks) do bin[#bin + 1] = string.pack("<fi4", i > 259 and -(i - 259) * 0.5 or 0, #t) .. t end
write("tokenizer_bin", "bytes269", string.pack("<I2", #toks - 1) .. table.concat(bin))

write("tokenizer_json", "byte_level.json", [[
{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":5,"content":"<|end|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
"post_processor":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},
"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":true,
"vocab":{"a":0,"b":1,"ab":2,"\u0120":3,"\u0120a":4,"<|end|>":5},"merges":[["a","b"],"\u0120 a"]}}
]])
write("tokenizer_json", "metaspace_nfkc.json", [[
{"version":"1.0","added_tokens":[{"id":0,"content":"<unk>","single_word":false,"lstrip":true,"rstrip":true,"normalized":true,"special":true}],
"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "},{"type":"Strip","strip_left":true,"strip_right":false}]},
"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"},"behavior":"Isolated","invert":false},{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"first","split":true}]},
"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
"model":{"type":"BPE","unk_token":"<unk>","fuse_unk":true,"byte_fallback":true,
"vocab":{"<unk>":0,"<0x41>":1,"\u2581":2,"o":3,"n":4,"on":5,"\u2581on":6,"ce":7},"merges":["o n","\u2581 on"]}}
]])

local GPT2 = [==['s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+]==]
local LLAMA3 = [==[(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+]==]
write("regex", "gpt2", GPT2)
write("regex", "llama3", LLAMA3 .. SEPARATOR .. "Hello,  world!\n\n 1234 it's")
write("regex", "classes", [==[[a-z\d_]+|[\u00C0-\u024F]{2,}|\p{Lu}\p{Ll}*|(?:ab|cd)+?|^\s*$|[^\x00-\x7F]]==] .. SEPARATOR .. "abcd ABc \u{00C9}t\u{00E9}")
write("unicode", "mixed", "caf\u{0065}\u{0301} \u{FB01} \u{212B} \u{1E9B}\u{0323} \u{AC00}\u{11A8} \u{1F600} \u{0F73}")
write("unicode", "invalid", "ok \xC3\x28 \xE2\x82 \xF0\x9F\x98 \xED\xA0\x80 \xFF end")
write("bpe", "small", "\3a\nb\nab\nc\nabc\n<0x64>\n\na b\nab c\n\nabcabd ab c")
write("bpe", "unk", "\26h\ne\nl\no\nhe\nll\n\nh e\nl l\n\nhello xyz")
