-- The synthetic default model: a small Llama with random weights in llama2.c's
-- legacy checkpoint format, plus its tokenizer and a text of short stories.
--
-- Why it exists: `make demo` and the tests have to run on a bare checkout,
-- even when stories260K is not in ../shared. This model has the same features
-- as stories260K (GQA, a tied classifier, a byte-fallback BPE tokenizer laid
-- out like tok512.bin, TinyStories-like text) but is much smaller. Every byte
-- comes from this file and its tokenizer's (model/synthetic_tokenizer.lua): a
-- fixed-seed PRNG and only IEEE-exact arithmetic. So the three files are the
-- same on every run and on every machine.

local files = require "util.files"
local detmath = require "util.detmath"
local synthetic_tokenizer = require "model.synthetic_tokenizer"

local synthetic = {}

-- Shape of the model. head_size = 12 and kv_dim = 24. Two query heads share
-- each KV head, as in stories260K.
synthetic.config = {
  dim = 48,
  hidden_dim = 128,
  n_layers = 2,
  n_heads = 4,
  n_kv_heads = 2,
  seq_len = 128,
  n_merges = 30, -- vocab = 3 specials + 256 bytes + 30 merges + 95 ASCII chars = 384
  n_stories = 40,
}

local SEPARATOR = "\n<|endoftext|>\n" -- what the TinyStories text files use
local TEXT_SEED = 0x6B696C6E74657874 -- "kilntext"
local WEIGHT_SEED = 0x6B696C6E77656967 -- "kilnweig"

---------------------------------------------------------------------------
-- PRNG: splitmix64. Lua 5.4 integers wrap on overflow and `>>` is a logical
-- shift, so this gives the reference sequence on every platform.

local Rng = {}
Rng.__index = Rng

local function rng(seed)
  return setmetatable({ state = seed }, Rng)
end

function Rng:next()
  self.state = self.state + 0x9E3779B97F4A7C15
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- Uniform in [0, 1): the top 53 bits, so every value is exact in a double.
function Rng:uniform()
  return (self:next() >> 11) * 0x1p-53
end

-- Uniform integer in [0, n). The modulo bias is below 2^-50 and does not matter here.
function Rng:below(n)
  return (self:next() >> 11) % n
end

function Rng:pick(list)
  return list[self:below(#list) + 1]
end

local log, exp, cos_sin_turns = detmath.log, detmath.exp, detmath.cos_sin_turns
local TWO_PI = detmath.TWO_PI

-- Standard normal via Box-Muller. The second value of each pair is kept for the next call.
function Rng:normal()
  if self.spare then
    local z = self.spare
    self.spare = nil
    return z
  end
  local u1 = 1 - self:uniform() -- (0, 1]: log(u1) must be finite
  local u2 = self:uniform()
  local radius = math.sqrt(-2 * log(u1)) -- sqrt is correctly rounded by IEEE 754
  local c, s = cos_sin_turns(u2)
  self.spare = radius * s
  return radius * c
end

---------------------------------------------------------------------------
-- Text: TinyStories-like stories built from a small vocabulary. They give
-- the tokenizer something to learn merges from, and kiln something to
-- calibrate on and measure perplexity with.

local CHARACTERS = {
  { name = "Lily", they = "she", kind = "girl" },
  { name = "Tom", they = "he", kind = "boy" },
  { name = "Mia", they = "she", kind = "girl" },
  { name = "Ben", they = "he", kind = "boy" },
  { name = "Sue", they = "she", kind = "girl" },
  { name = "Max", they = "he", kind = "dog" },
  { name = "Anna", they = "she", kind = "cat" },
  { name = "Sam", they = "he", kind = "bird" },
}
local ADJECTIVES = { "big", "little", "red", "happy", "shiny", "small", "funny", "blue", "soft", "old", "pretty", "green" }
local NOUNS = { "ball", "tree", "box", "car", "cake", "toy", "kite", "flower", "hat", "boat", "book", "rock", "apple", "drum" }
local VERBS = { "play", "run", "jump", "sing", "dance", "read", "swim", "draw", "hide", "look" }
local PLACES = { "park", "garden", "house", "forest", "yard", "school", "kitchen" }
local FEELINGS = { "happy", "sad", "proud", "tired", "excited", "scared", "surprised" }

local function capital(s)
  return s:sub(1, 1):upper() .. s:sub(2)
end

-- "a" or "an" followed by the words, so the text reads like English.
local function with_article(words)
  return (words:match("^[aeiou]") and "an " or "a ") .. words
end

-- Each entry makes one sentence for hero h and friend f.
local SENTENCES = {
  function(r, h) return h.name .. " loved to " .. r:pick(VERBS) .. " in the " .. r:pick(PLACES) .. "." end,
  function(r, h) return "One day, " .. h.name .. " saw " .. with_article(r:pick(ADJECTIVES) .. " " .. r:pick(NOUNS)) .. " in the " .. r:pick(PLACES) .. "." end,
  function(r, h) return capital(h.they) .. " wanted to " .. r:pick(VERBS) .. " with the " .. r:pick(NOUNS) .. "." end,
  function(r, h) return h.name .. " said, \"Look at the " .. r:pick(ADJECTIVES) .. " " .. r:pick(NOUNS) .. "!\"" end,
  function(r, _, f) return f.name .. " asked, \"Can I " .. r:pick(VERBS) .. " with you?\"" end,
  function(r, h, f) return h.name .. " and " .. f.name .. " played with the " .. r:pick(NOUNS) .. " all day." end,
  function(r) return "The " .. r:pick(NOUNS) .. " was very " .. r:pick(ADJECTIVES) .. "." end,
  function(r, h) return capital(h.they) .. " felt " .. r:pick(FEELINGS) .. "." end,
  function(r, h, f) return h.name .. " gave the " .. r:pick(NOUNS) .. " to " .. f.name .. "." end,
  function(r) return "They went to the " .. r:pick(PLACES) .. " together." end,
  function(_, h, f) return "\"Thank you, " .. f.name .. "!\" said " .. h.name .. "." end,
  function(r, h) return h.name .. " didn't want to " .. r:pick(VERBS) .. " alone." end,
}

local ENDINGS = {
  function(_, h, f) return "From that day on, " .. h.name .. " and " .. f.name .. " were best friends." end,
  function(_, h) return h.name .. " was very happy." end,
  function(r) return "They had a lot of fun in the " .. r:pick(PLACES) .. "." end,
}

local MIN_STORY, MAX_STORY = 200, 600

local function story(r)
  local h = r:pick(CHARACTERS)
  local f
  repeat f = r:pick(CHARACTERS) until f ~= h
  local opening
  if r:below(2) == 0 then
    opening = "Once upon a time, there was " .. with_article(r:pick(ADJECTIVES) .. " " .. h.kind) .. " named " .. h.name .. "."
  else
    opening = "One day, " .. h.name .. " went to the " .. r:pick(PLACES) .. "."
  end
  local ending = r:pick(ENDINGS)(r, h, f)
  local target = MIN_STORY + r:below(MAX_STORY - MIN_STORY + 1)
  local parts, length = { opening }, #opening
  while length < target do
    local sentence = r:pick(SENTENCES)(r, h, f)
    -- Paragraph breaks, as in the real stories, after about one sentence in five.
    local sep = r:below(5) == 0 and "\n\n" or " "
    -- Leave room for the ending, so no story goes over MAX_STORY.
    if length + #sep + #sentence + 1 + #ending > MAX_STORY then break end
    parts[#parts + 1] = sep .. sentence
    length = length + #sep + #sentence
  end
  parts[#parts + 1] = " " .. ending
  return table.concat(parts)
end

local function make_stories()
  local r = rng(TEXT_SEED)
  local list = {}
  for i = 1, synthetic.config.n_stories do list[i] = story(r) end
  return list
end

---------------------------------------------------------------------------
-- Checkpoint. The weights are random, but their scales follow a trained
-- small model (stories260K). The tied embedding has std 0.3, the same as
-- stories260K's, so the logits come out at a few units (the largest is about
-- 8). The attention matrices have std 1/sqrt(fan_in), so each projection
-- keeps its input's O(1) scale. The norm gains are 1 + 0.1 N(0,1). The
-- residual stream's RMS stays between 0.03 (the BOS embedding) and about 4.

local EMBED_STD = 0.3
-- The specials and byte-fallback tokens are rare in the stories, so a trained
-- model would give them small embeddings. With a tied classifier that also
-- keeps their logits near 0, so greedy decoding prints text instead of raw bytes.
local RARE_EMBED_STD = 0.03
local N_RARE = 3 + 256
-- With std 1/sqrt(fan_in) everywhere, the residual stays close to the input
-- token's embedding. With a tied classifier, each token then predicts itself,
-- and greedy decoding gets stuck on one token within a few steps. A 1.5x gain
-- on the three FFN matrices makes the FFN output about 3x its input. The next
-- token then depends on the whole context: in the first 64 greedy steps from
-- BOS, 41 different tokens come out.
local FFN_GAIN = 1.5

local function pack_floats(out, values)
  for i = 1, #values do out[#out + 1] = string.pack("<f", values[i]) end
end

local function normals(r, count, mean, std)
  local v = {}
  for i = 1, count do v[i] = mean + std * r:normal() end
  return v
end

local function pack_model(vocab_size)
  local c = synthetic.config
  local head_size = c.dim // c.n_heads
  local kv_dim = c.n_kv_heads * head_size
  local r = rng(WEIGHT_SEED)
  local out = {
    -- A positive vocab_size tells readers the classifier is the embedding.
    string.pack("<i4i4i4i4i4i4i4", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab_size, c.seq_len),
  }
  local function matrix(rows, cols, gain)
    return normals(r, rows * cols, 0.0, gain / math.sqrt(cols))
  end
  -- Each per-layer tensor is stored for all layers together, in llama2.c order.
  local function per_layer(make)
    for _ = 1, c.n_layers do pack_floats(out, make()) end
  end
  local function norm() return normals(r, c.dim, 1.0, 0.1) end

  pack_floats(out, normals(r, N_RARE * c.dim, 0.0, RARE_EMBED_STD))
  pack_floats(out, normals(r, (vocab_size - N_RARE) * c.dim, 0.0, EMBED_STD))
  per_layer(norm) -- rms_att
  per_layer(function() return matrix(c.dim, c.dim, 1.0) end) -- wq
  per_layer(function() return matrix(kv_dim, c.dim, 1.0) end) -- wk
  per_layer(function() return matrix(kv_dim, c.dim, 1.0) end) -- wv
  per_layer(function() return matrix(c.dim, c.dim, 1.0) end) -- wo
  per_layer(norm) -- rms_ffn
  per_layer(function() return matrix(c.hidden_dim, c.dim, FFN_GAIN) end) -- w1
  per_layer(function() return matrix(c.dim, c.hidden_dim, FFN_GAIN) end) -- w2
  per_layer(function() return matrix(c.hidden_dim, c.dim, FFN_GAIN) end) -- w3
  pack_floats(out, norm()) -- rms_final

  -- The RoPE tables llama2.c's export wrote. run.c no longer reads them, but
  -- they are part of the format, so they hold the real values:
  -- freq_i = 10000^(-2i/head_size), angle = pos * freq_i.
  local half = head_size // 2
  local re, im = {}, {}
  for pos = 0, c.seq_len - 1 do
    for i = 0, half - 1 do
      local freq = exp(-(2 * i / head_size) * log(10000.0))
      local cr, ci = cos_sin_turns(pos * freq / TWO_PI)
      re[#re + 1] = cr
      im[#im + 1] = ci
    end
  end
  pack_floats(out, re)
  pack_floats(out, im)
  return table.concat(out)
end

---------------------------------------------------------------------------

-- build() -> { model = bytes, tokenizer = bytes, text = bytes, vocab_size = n }
function synthetic.build()
  local stories = make_stories()
  local vocab = synthetic_tokenizer.vocabulary(stories, synthetic.config.n_merges)
  local text = {}
  for i, s in ipairs(stories) do text[i] = s .. SEPARATOR end
  return {
    model = pack_model(#vocab),
    tokenizer = synthetic_tokenizer.pack(vocab),
    text = table.concat(text),
    vocab_size = #vocab,
  }
end

-- write(dir) writes model.bin, tokenizer.bin and text.txt into the existing
-- directory dir and returns { model = path, tokenizer = path, text = path }.
function synthetic.write(dir)
  local built = synthetic.build()
  local paths = {
    model = dir .. "/model.bin",
    tokenizer = dir .. "/tokenizer.bin",
    text = dir .. "/text.txt",
  }
  files.write_atomic(paths.model, built.model)
  files.write_atomic(paths.tokenizer, built.tokenizer)
  files.write_atomic(paths.text, built.text)
  return paths
end

return synthetic
