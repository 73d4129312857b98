-- bpe.c (tokenizer.json's BPE model): the input's lines are the vocab (one
-- token a line, ids in order) up to an empty line, then merges ("left right")
-- up to an empty line, then the text to encode; the first byte sets the flags.
return function(fuzz, data)
  if #data < 1 then return end
  local flags = data:byte(1)
  local lines = {}
  for line in (data:sub(2) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local vocab, merges, i = {}, {}, 1
  local n = 0
  while i <= #lines and lines[i] ~= "" do
    if vocab[lines[i]] == nil then vocab[lines[i]] = n; n = n + 1 end
    i = i + 1
  end
  i = i + 1
  while i <= #lines and lines[i] ~= "" do
    local a, b = lines[i]:match("^(.-) (.*)$")
    merges[#merges + 1] = { a or lines[i], b or "" }
    i = i + 1
  end
  local text = table.concat(lines, "\n", i + 1)
  local opts = { byte_fallback = flags & 1 ~= 0, fuse_unk = flags & 2 ~= 0, ignore_merges = flags & 4 ~= 0,
    unk = flags & 8 ~= 0 and (flags >> 4) or nil }
  local bpe = fuzz.native.bpe(vocab, merges, opts)
  if not bpe then return end
  local ids = {}
  bpe:encode(text, ids, 0)
  bpe:encode("hello world", ids, #ids)
end
