-- The tensor index at the end of weights.bin: one text line per tensor
-- (its C name, where its bytes are, their element type, and the tensor,
-- dtype, shape and layout they hold), then a last line giving the byte
-- where the index starts. It travels inside the file, so `kiln textconv`
-- reads a weights.bin alone (git hands its driver a temporary copy of an
-- old blob, far from the tree it came from); weights_blob.S includes only
-- the bytes before it, so the firmware does not carry it.

local weights_index = {}

local HEADER = "kiln weights.bin index 1: name offset bytes ctype tensor dtype shape layout\n"
local FOOTER = "kiln-weights-index-at %d\n"

-- Element types of the codes as stored: a C element type, or two 4-bit
-- codes a byte (low nibble first), signed or not.
weights_index.NIBBLES = { u4 = "unsigned", s4 = "signed" }

-- encode(list) -> the index text; list: the registry's blob constants, in
-- the order of their bytes, each { name, offset, bytes, ctype, meta =
-- { tensor, dtype, shape = { rows, cols }, layout, codes } } (codes: the
-- element type when it is not ctype, u4 or s4).
function weights_index.encode(list, tensor_bytes)
  local lines = { HEADER }
  for _, c in ipairs(list) do
    local m = c.meta or {}
    local shape = m.shape and table.concat(m.shape, "x") or tostring(c.bytes)
    lines[#lines + 1] = string.format("%s %d %d %s %s %s %s %s\n", c.name, c.offset, c.bytes, m.codes or c.ctype,
      m.tensor or "-", m.dtype or "-", shape, m.layout or "rows")
  end
  lines[#lines + 1] = string.format(FOOTER, tensor_bytes)
  return table.concat(lines)
end

-- The byte where a weights.bin's index starts, from its last bytes, or nil
-- (no index: not a weights.bin kiln wrote with one).
function weights_index.start(tail)
  local at = tail:match("\nkiln%-weights%-index%-at (%d+)\n$")
  return at and math.tointeger(tonumber(at))
end

-- decode(text) -> list of { name, offset, bytes, ctype, tensor, dtype,
-- shape, layout }, or nil, the line that is not an entry.
function weights_index.decode(text)
  if text:sub(1, #HEADER) ~= HEADER then return nil, "no index header" end
  local list = {}
  for line in text:sub(#HEADER + 1):gmatch("([^\n]*)\n") do
    if line:match("^kiln%-weights%-index%-at ") then break end
    local name, offset, bytes, ctype, tensor, dtype, shape, layout =
      line:match("^([%w_]+) (%d+) (%d+) (%w+) (%S+) (%S+) (%S+) (%S+)$")
    if not name then return nil, line end
    list[#list + 1] = { name = name, offset = tonumber(offset), bytes = tonumber(bytes), ctype = ctype,
      tensor = tensor, dtype = dtype, shape = shape, layout = layout }
  end
  return list
end

-- read(path) -> list (as decode), the byte the index starts at; or nil, a
-- message.
function weights_index.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 64))
  local at = weights_index.start(f:read("a"))
  if not at or at > size then f:close(); return nil, "no kiln tensor index at its end" end
  f:seek("set", at)
  local text = f:read("a")
  f:close()
  local list, bad = weights_index.decode(text)
  if not list then return nil, "bad tensor index line '" .. bad .. "'" end
  for _, e in ipairs(list) do
    if e.offset + e.bytes > at then return nil, "tensor " .. e.name .. " runs past the tensors' bytes" end
  end
  return list, at
end

return weights_index
