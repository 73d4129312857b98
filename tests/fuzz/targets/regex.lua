-- native.regex (regex*.c, tokenizer.json's pre-tokenizer patterns): the input
-- is a pattern, then fuzz.SEPARATOR and a text to match (else a fixed text).
local TEXT = "Hello world! I'm 12345 caf\u{00E9}s \u{1F600}\t\n  'll 've \u{4E2D}\u{6587} \255 end"

return function(fuzz, data)
  local parts = fuzz.split(data, 2)
  local re = fuzz.native.regex(parts[1])
  if not re then return end
  re:find_all(parts[2] or TEXT)
  if parts[2] then re:find_all(TEXT) end
end
