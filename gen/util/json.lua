-- A small JSON writer with a fixed key order.
--
-- kiln's outputs are reviewed as diffs, so a file must come out byte for byte
-- the same from the same inputs. Lua tables have no key order, so objects to be
-- written are built with json.object(), which remembers insertion order.
-- Reading JSON is lua-cjson's job (json.decode).

local f32 = require "util.f32"

local json = {}

local Object = {}
Object.__index = Object

-- json.object() -> an ordered object; obj:set(key, value) appends or replaces.
function json.object()
  return setmetatable({ keys = {}, values = {} }, Object)
end

function Object:set(key, value)
  if self.values[key] == nil then self.keys[#self.keys + 1] = key end
  self.values[key] = value
  return self
end

local NULL = setmetatable({}, { __tostring = function() return "null" end })
json.null = NULL

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- Numbers that are float32 values (every scale and range kiln writes) get the
-- shortest text that reads back to the same float32; other floats keep 17 digits.
local function encode_number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x or x == math.huge or x == -math.huge then
    error("json: cannot write non-finite number " .. tostring(x))
  end
  if f32.round(x) == x then return f32.format(x) end
  return string.format("%.17g", x)
end

local function is_scalar_array(t)
  for _, v in ipairs(t) do
    if type(v) == "table" then return false end
  end
  return true
end

local function encode(value, indent, depth, out)
  local kind = type(value)
  if value == NULL or value == nil then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(value)
  elseif kind == "number" then
    out[#out + 1] = encode_number(value)
  elseif kind == "string" then
    out[#out + 1] = encode_string(value)
  elseif getmetatable(value) == Object then
    if #value.keys == 0 then
      out[#out + 1] = "{}"
      return
    end
    local pad = "\n" .. string.rep(indent, depth + 1)
    out[#out + 1] = "{"
    for i, k in ipairs(value.keys) do
      out[#out + 1] = (i > 1 and "," or "") .. pad .. encode_string(k) .. ": "
      encode(value.values[k], indent, depth + 1, out)
    end
    out[#out + 1] = "\n" .. string.rep(indent, depth) .. "}"
  elseif kind == "table" then
    -- Arrays of numbers (per-channel scales) stay on one line.
    if is_scalar_array(value) then
      local items = {}
      for i, v in ipairs(value) do
        local part = {}
        encode(v, indent, depth, part)
        items[i] = table.concat(part)
      end
      out[#out + 1] = "[" .. table.concat(items, ", ") .. "]"
    else
      local pad = "\n" .. string.rep(indent, depth + 1)
      out[#out + 1] = "["
      for i, v in ipairs(value) do
        out[#out + 1] = (i > 1 and "," or "") .. pad
        encode(v, indent, depth + 1, out)
      end
      out[#out + 1] = "\n" .. string.rep(indent, depth) .. "]"
    end
  else
    error("json: cannot write a " .. kind)
  end
end

-- json.encode(value) -> text, two-space indented, with a final newline.
function json.encode(value)
  local out = {}
  encode(value, "  ", 0, out)
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- json.decode(text) -> value (lua-cjson); nil, message on malformed input.
-- JSON null decodes to json.decoded_null. A NUL byte is never JSON (inside a
-- string it is written \u0000); lua-cjson would stop reading there and take
-- what came before for the whole text.
function json.decode(text)
  local nul = text:find("\0", 1, true)
  if nul then return nil, string.format("a NUL byte at character %d", nul) end
  local cjson = require "cjson.safe"
  return cjson.decode(text)
end
json.decoded_null = require("cjson.safe").null

-- json.repeated_key(text[, any_depth]) -> the first key that a JSON object
-- (text, already known to decode) repeats at its top level (or, with
-- any_depth, in any object of it), or nil. lua-cjson keeps the last of
-- repeated keys without a word; formats that forbid them need this.
function json.repeated_key(text, any_depth)
  local frames, i = {}, 1 -- one frame per open object or array
  while true do
    i = text:find('["{}%[%],]', i) -- numbers, literals and spaces between are skipped
    if not i then break end
    local c = text:sub(i, i)
    local top = frames[#frames]
    if c == '"' then
      local j = i + 1
      while true do -- the end of the string: a quote not escaped
        local q = text:find('["\\]', j)
        if not q then return nil end
        if text:sub(q, q) == "\\" then j = q + 2 else j = q; break end
      end
      if top and top.seen and top.expect_key and (any_depth or #frames == 1) then
        local key = json.decode(text:sub(i, j)) -- escapes decoded: "a\u0062" is "ab"
        if top.seen[key] then return key end
        top.seen[key] = true
      end
      if top then top.expect_key = false end
      i = j + 1
    else
      if c == "{" then
        frames[#frames + 1] = { seen = {}, expect_key = true }
      elseif c == "[" then
        frames[#frames + 1] = {}
      elseif c == "}" or c == "]" then
        frames[#frames] = nil
      elseif c == "," and top and top.seen then
        top.expect_key = true
      end
      i = i + 1
    end
  end
  return nil
end

return json
