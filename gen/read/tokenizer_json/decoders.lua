-- The decoders of tokenizer.json, by type: Sequence, Replace, ByteFallback,
-- Fuse, Strip, ByteLevel, Metaspace. Each takes a list of token strings to
-- a list of strings (joined at the end).

local fields = require "read.tokenizer_json.fields"
local patterns = require "read.tokenizer_json.patterns"
local byte_level = require "read.tokenizer_json.byte_level"

local DECODERS = {}

local present, refuse, string_field = fields.present, fields.refuse, fields.string_field
local CHAR_BYTE = byte_level.CHAR_BYTE

DECODERS.Sequence = fields.sequence_of(DECODERS, "decoders")

function DECODERS.Replace(ctx, native, d, field)
  local pattern = patterns.of(ctx, native, d.pattern, field .. ".pattern")
  local content = string_field(ctx, d, "content", field)
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do out[i] = patterns.replace_all(pattern, t, content) end
    return out
  end
end

function DECODERS.ByteFallback(_, native)
  return function(tokens)
    local out, bytes = {}, {}
    local function flush()
      if #bytes == 0 then return end
      local s = table.concat(bytes)
      if native.utf8_invalid_at(s) then
        for _ = 1, #bytes do out[#out + 1] = "\u{FFFD}" end
      else
        out[#out + 1] = s
      end
      bytes = {}
    end
    for _, t in ipairs(tokens) do
      local hex = #t == 6 and t:match("^<0x(%x%x)>$")
      if hex then
        bytes[#bytes + 1] = string.char(tonumber(hex, 16))
      else
        flush()
        out[#out + 1] = t
      end
    end
    flush()
    return out
  end
end

function DECODERS.Fuse()
  return function(tokens) return { table.concat(tokens) } end
end

function DECODERS.Strip(ctx, _, d, field)
  local content = string_field(ctx, d, "content", field)
  if utf8.len(content) ~= 1 then refuse(ctx, field .. ".content", "must be one character") end
  local start, stop = math.tointeger(d.start) or 0, math.tointeger(d.stop) or 0
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do
      local a, b = 1, #t
      for _ = 1, start do
        if t:sub(a, a + #content - 1) ~= content then break end
        a = a + #content
      end
      for _ = 1, stop do
        if b - #content + 1 < a or t:sub(b - #content + 1, b) ~= content then break end
        b = b - #content
      end
      out[i] = t:sub(a, b)
    end
    return out
  end
end

function DECODERS.ByteLevel(_, native)
  return function(tokens)
    local bytes = {}
    for _, t in ipairs(tokens) do
      local mapped, ok = {}, true
      for _, c in utf8.codes(t) do
        local b = CHAR_BYTE[utf8.char(c)]
        if not b then ok = false; break end
        mapped[#mapped + 1] = b
      end
      bytes[#bytes + 1] = ok and table.concat(mapped) or t
    end
    return { native.utf8_lossy(table.concat(bytes)) }
  end
end

function DECODERS.Metaspace(ctx, _, d, field)
  local rep = string_field(ctx, d, "replacement", field)
  local scheme = present(d.prepend_scheme) and d.prepend_scheme or (d.add_prefix_space == false and "never" or "always")
  return function(tokens)
    local out = {}
    for i, t in ipairs(tokens) do out[i] = t:gsub(rep:gsub("%W", "%%%0"), (i == 1 and scheme ~= "never") and "" or " ") end
    return out
  end
end

return DECODERS
