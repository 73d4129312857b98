-- The synthetic model's tokenizer (model/synthetic.lua), laid out like
-- tok512.bin: ids 0-2 are the specials, ids 3-258 are the byte-fallback
-- tokens, then come the BPE merges (scores 0, -1, ...), then the single
-- characters. Their scores continue the count down, ordered by frequency.
-- The merges are learned from the stories by plain BPE, so each one joins
-- two pieces that existed before it.

local synthetic_tokenizer = {}

-- SentencePiece-style words: a space belongs to the word after it. Letter
-- runs and punctuation are separate words. Newlines split words too (they
-- are not pieces; they go through byte fallback, as in tok512).
local function word_counts(stories)
  local counts = {}
  for _, s in ipairs(stories) do
    for line in (s .. "\n"):gmatch("(.-)\n") do
      local i = 1
      while i <= #line do
        local _, e = line:find("^ ?%a+", i)
        if not e then _, e = line:find("^ ?[^%a]", i) end
        local w = line:sub(i, e)
        counts[w] = (counts[w] or 0) + 1
        i = e + 1
      end
    end
  end
  return counts
end

local function learn_merges(stories, n_merges)
  local counts = word_counts(stories)
  -- Sorted, so the result never depends on the order pairs() visits keys.
  local keys = {}
  for w in pairs(counts) do keys[#keys + 1] = w end
  table.sort(keys)
  local words = {}
  for k, w in ipairs(keys) do
    local symbols = {}
    for c in w:gmatch(".") do symbols[#symbols + 1] = c end
    words[k] = { symbols = symbols, count = counts[w] }
  end

  local known, merges = {}, {}
  while #merges < n_merges do
    local pair_count, left_of = {}, {}
    for _, w in ipairs(words) do
      local sym = w.symbols
      for i = 1, #sym - 1 do
        local key = sym[i] .. "\0" .. sym[i + 1] -- pieces never contain NUL
        pair_count[key] = (pair_count[key] or 0) + w.count
        left_of[key] = sym[i]
      end
    end
    -- Most frequent pair wins. Ties go to the smaller joined string, then the
    -- shorter left half. That is a total order, so the choice is always the same.
    local best, best_count, best_joined
    for key, count in pairs(pair_count) do
      local joined = key:gsub("\0", "")
      if best == nil or count > best_count
        or (count == best_count and (joined < best_joined
          or (joined == best_joined and #left_of[key] < #left_of[best]))) then
        best, best_count, best_joined = key, count, joined
      end
    end
    if best == nil then error("synthetic text too small to learn " .. n_merges .. " merges") end
    local a, b = best:match("^(.-)\0(.*)$")
    for _, w in ipairs(words) do
      local sym, out = w.symbols, {}
      local i = 1
      while i <= #sym do
        if sym[i] == a and sym[i + 1] == b then
          out[#out + 1] = best_joined
          i = i + 2
        else
          out[#out + 1] = sym[i]
          i = i + 1
        end
      end
      w.symbols = out
    end
    -- The same string can also be built from another pair (t+he and th+e).
    -- It is one piece, listed only once.
    if not known[best_joined] then
      known[best_joined] = true
      merges[#merges + 1] = best_joined
    end
  end
  return merges
end

-- Every printable ASCII character, most frequent in the stories first, as in
-- tok512. Listing them all means any ASCII prompt encodes without byte fallback.
local function characters(stories)
  local freq = {}
  for _, s in ipairs(stories) do
    for c in s:gmatch("[\32-\126]") do freq[c] = (freq[c] or 0) + 1 end
  end
  local list = {}
  for b = 32, 126 do list[#list + 1] = string.char(b) end
  table.sort(list, function(x, y)
    local fx, fy = freq[x] or 0, freq[y] or 0
    if fx ~= fy then return fx > fy end
    return x < y
  end)
  return list
end

-- vocabulary(stories, n_merges) -> the list of { piece, score } in id order.
function synthetic_tokenizer.vocabulary(stories, n_merges)
  local vocab = {
    { "<unk>", 0.0 },
    { "\n<s>\n", 0.0 },
    { "\n</s>\n", 0.0 },
  }
  for b = 0, 255 do vocab[#vocab + 1] = { string.format("<0x%02X>", b), 0.0 } end
  -- Scores are -rank as floats. The first merge gets -0.0, as SentencePiece
  -- (and so tok512.bin) writes it. The encoder treats it as 0.
  local rank = 0
  for _, piece in ipairs(learn_merges(stories, n_merges)) do
    vocab[#vocab + 1] = { piece, -(rank + 0.0) }
    rank = rank + 1
  end
  for _, c in ipairs(characters(stories)) do
    vocab[#vocab + 1] = { c, -(rank + 0.0) }
    rank = rank + 1
  end
  return vocab
end

-- pack(vocab) -> the bytes of tokenizer.bin
function synthetic_tokenizer.pack(vocab)
  local max_len = 0
  for _, t in ipairs(vocab) do max_len = math.max(max_len, #t[1]) end
  local out = { string.pack("<i4", max_len) }
  for _, t in ipairs(vocab) do
    out[#out + 1] = string.pack("<fi4", t[2], #t[1]) .. t[1]
  end
  return table.concat(out)
end

return synthetic_tokenizer
