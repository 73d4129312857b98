-- The weight tensors of a generated tree as stored: the arrays of weights.c
-- (their C text) and the tensors of weights.bin (its index, see
-- emit/weights_index.lua). Each is { name (its C name), tensor (the
-- observer path), dtype, shape, codes (element type as stored: u8, s8, s16,
-- or u4 / s4 two a byte), bytes () -> its codes as little-endian bytes },
-- so a tensor reads the same from either and hashes the same.

local fail = require "util.fail"
local weights_index = require "emit.weights_index"

local tensors = {}

local CODES = { uint8_t = "u8", int8_t = "s8", int16_t = "s16", int32_t = "s32", uint32_t = "u32" }
local PACK = { u8 = "B", s8 = "b", s16 = "<i2", s32 = "<i4", u32 = "<I4", u4 = "B", s4 = "B" }

-- The stored element type of a weights.c array, from its C type and the
-- comment above it: 4-bit codes are bytes of two, signed unless their
-- layout offsets them (code + 8).
local function codes_of(ctype, note)
  local dtype = note:match("^[%w_.]+: (u?int4) ")
  if dtype then return (dtype == "int4" and not note:find("code + 8", 1, true)) and "s4" or "u4", dtype end
  return CODES[ctype], note:match("^[%w_.]+: (u?int%d+)")
end

-- of_c(text, where) -> the arrays of a weights.c (where: its path, for messages).
function tensors.of_c(text, where)
  local out = {}
  for note, ctype, name, count, body in text:gmatch("/%* ([^\n]-) %*/\nconst ([%w_]+) ([%w_]+)%[(%d+)%][^=\n]*= {\n(.-)};") do
    local codes, dtype = codes_of(ctype, note)
    if not codes then fail.raise(where, name, "an array of " .. ctype .. ", not weight codes") end
    local values = {}
    for v in body:gmatch("%-?%d+") do values[#values + 1] = math.tointeger(tonumber(v)) end
    if #values ~= tonumber(count) then
      fail.raise(where, name, string.format("declares %s values and holds %d", count, #values))
    end
    local rows, cols = note:match("%[(%d+)%]%[(%d+)%]")
    out[#out + 1] = { name = name, tensor = note:match("^([%w_.]+):") or "-", dtype = dtype or "-",
      shape = rows and (rows .. "x" .. cols) or count, codes = codes,
      bytes = function()
        local parts, fmt = {}, PACK[codes]
        for i = 1, #values, 4096 do
          parts[#parts + 1] = string.pack(fmt:rep(math.min(4096, #values - i + 1)), table.unpack(values, i, math.min(#values, i + 4095)))
        end
        return table.concat(parts)
      end }
  end
  return out
end

-- of_blob(path) -> the tensors of a weights.bin, from its index.
function tensors.of_blob(path)
  local list, err = weights_index.read(path)
  if not list then fail.raise(path, nil, err) end
  local out = {}
  for _, e in ipairs(list) do
    out[#out + 1] = { name = e.name, tensor = e.tensor, dtype = e.dtype, shape = e.shape, codes = e.ctype,
      layout = e.layout, bytes = function()
        local f = assert(io.open(path, "rb"))
        f:seek("set", e.offset)
        local s = f:read(e.bytes) or ""
        f:close()
        return s
      end }
  end
  return out
end

-- of_tree(side) -> every weight tensor of a generated tree, weights.c's
-- arrays first, then weights.bin's.
function tensors.of_tree(side)
  local out = {}
  local c = side:read("weights.c")
  if c then out = tensors.of_c(c, side.path .. "/weights.c") end
  if side:has("weights.bin") then
    for _, t in ipairs(tensors.of_blob(side.path .. "/weights.bin")) do out[#out + 1] = t end
  end
  return out
end

local SIZES = { u8 = 1, s8 = 1, s16 = 2, s32 = 4, u32 = 4 }

-- count(t, bytes) -> how many codes a tensor's bytes hold.
function tensors.count(t, bytes)
  if t.codes == "u4" or t.codes == "s4" then return 2 * #bytes end
  return #bytes // SIZES[t.codes]
end

-- codes(t, bytes, first, last) -> the codes of elements [first, last] of a
-- tensor's bytes (1-based; 4-bit tensors hold two elements a byte).
function tensors.codes(t, bytes, first, last)
  if t.codes == "u4" or t.codes == "s4" then
    local out, signed = {}, t.codes == "s4"
    for e = first, last do
      local byte = bytes:byte((e + 1) // 2)
      local v = (e % 2 == 1) and (byte & 15) or (byte >> 4)
      if signed and v > 7 then v = v - 16 end
      out[#out + 1] = v
    end
    return out
  end
  local size = SIZES[t.codes]
  local fmt = PACK[t.codes]
  local vals = { string.unpack(fmt:rep(last - first + 1), bytes, (first - 1) * size + 1) }
  vals[#vals] = nil
  return vals
end

return tensors
