-- GPT-2's bytes_to_unicode, which ByteLevel pre-tokenizers and decoders
-- share: each byte as a printable character (its UTF-8), and back.

local byte_level = { BYTE_CHAR = {}, CHAR_BYTE = {} }

do
  local n = 0
  for b = 0, 255 do
    local printable = (b >= 33 and b <= 126) or (b >= 161 and b <= 172) or (b >= 174)
    local cp = printable and b or (256 + n)
    if not printable then n = n + 1 end
    byte_level.BYTE_CHAR[string.char(b)] = utf8.char(cp)
    byte_level.CHAR_BYTE[utf8.char(cp)] = string.char(b)
  end
end

return byte_level
