-- The patterns of tokenizer.json's Split and Replace ({ String = "..." } or
-- { Regex = "..." }, the regexes in native regex.c): their matches in a text
-- and replacing them.

local fail = require "util.fail"
local fields = require "read.tokenizer_json.fields"

local patterns = {}

local refuse = fields.refuse

-- The pattern p at field, read.
function patterns.of(ctx, native, p, field)
  if type(p) ~= "table" then refuse(ctx, field, "must be {\"String\": ...} or {\"Regex\": ...}") end
  if type(p.String) == "string" then return { plain = p.String } end
  if type(p.Regex) == "string" then
    local re, err = native.regex(p.Regex)
    if not re then refuse(ctx, field .. ".Regex", err) end
    return { regex = re, path = ctx.path, field = field .. ".Regex" }
  end
  refuse(ctx, field, "must be {\"String\": ...} or {\"Regex\": ...}")
end

-- Matches of a pattern in s: { start1, stop1, start2, stop2, ... } byte
-- offsets (start 0-based, stop exclusive: 1-based inclusive ranges
-- start + 1 .. stop).
function patterns.find_matches(pattern, s)
  if pattern.regex then
    local offs, err = pattern.regex:find_all(s)
    if not offs then fail.raise(pattern.path, pattern.field, string.format("%s (%d bytes)", err, #s)) end
    return offs
  end
  local out, at = {}, 1
  if pattern.plain == "" then return out end
  while true do
    local a, b = s:find(pattern.plain, at, true)
    if not a then break end
    out[#out + 1], out[#out + 2] = a - 1, b
    at = b + 1
  end
  return out
end

function patterns.replace_all(pattern, s, content)
  if pattern.plain then
    if pattern.plain == "" then return s end
    return (s:gsub(pattern.plain:gsub("%W", "%%%0"), (content:gsub("%%", "%%%%"))))
  end
  local parts, at = {}, 1
  local m = patterns.find_matches(pattern, s)
  for i = 1, #m, 2 do
    parts[#parts + 1] = s:sub(at, m[i])
    parts[#parts + 1] = content
    at = m[i + 1] + 1
  end
  parts[#parts + 1] = s:sub(at)
  return table.concat(parts)
end

return patterns
