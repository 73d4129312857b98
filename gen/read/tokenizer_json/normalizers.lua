-- The normalizers of tokenizer.json (text -> text), by type: Sequence,
-- Prepend, Replace, Strip, NFC, NFD, NFKC, NFKD (native unicode.c).

local fields = require "read.tokenizer_json.fields"
local patterns = require "read.tokenizer_json.patterns"

local NORMALIZERS = {}

local string_field = fields.string_field

NORMALIZERS.Sequence = fields.sequence_of(NORMALIZERS, "normalizers")

function NORMALIZERS.Prepend(ctx, _, n, field)
  local p = string_field(ctx, n, "prepend", field)
  return function(s) return s == "" and s or p .. s end
end

function NORMALIZERS.Replace(ctx, native, n, field)
  local pattern = patterns.of(ctx, native, n.pattern, field .. ".pattern")
  local content = string_field(ctx, n, "content", field)
  return function(s) return patterns.replace_all(pattern, s, content) end
end

function NORMALIZERS.Strip(_, _, n)
  local left, right = n.strip_left ~= false, n.strip_right ~= false
  return function(s)
    if left then s = s:gsub("^[ \t\n\r\v\f]+", "") end
    if right then s = s:gsub("[ \t\n\r\v\f]+$", "") end
    return s
  end
end

for _, form in ipairs({ "NFC", "NFD", "NFKC", "NFKD" }) do
  NORMALIZERS[form] = function(_, native)
    return function(s) return native.unicode_normalize(s, form) end
  end
end

return NORMALIZERS
