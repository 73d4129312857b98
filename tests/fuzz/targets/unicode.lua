-- unicode.c: UTF-8 checks, the lossy decoding, the four normalization forms
-- and the categories, on the input as text.
return function(fuzz, data)
  local native = fuzz.native
  native.utf8_lossy(data)
  local text = data
  if native.utf8_invalid_at(data) then text = native.utf8_lossy(data) end
  assert(not native.utf8_invalid_at(text), "utf8_lossy left invalid UTF-8")
  for _, form in ipairs({ "NFC", "NFD", "NFKC", "NFKD" }) do
    local out = native.unicode_normalize(text, form)
    assert(not native.utf8_invalid_at(out), form .. " made invalid UTF-8")
  end
  for _, cp in utf8.codes(text, true) do native.unicode_category(cp) end
end
