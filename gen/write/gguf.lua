-- Writing GGUF v3 files: the header (metadata and tensor infos) of a list of
-- tensors, each tensor's data aligned to general.alignment. The data is the
-- caller's to write after the header, each tensor followed by its padding.

local gguf = {}

gguf.ALIGNMENT = 32
local TYPES = { fp32 = { 0, 4 }, fp16 = { 1, 2 }, bf16 = { 30, 2 } }
local U32, I32, F32, STRING, ARRAY, U64 = 4, 5, 6, 8, 9, 10

local function str(s)
  return string.pack("<I8", #s) .. s
end

-- A metadata value: { "u32" | "f32" | "string" | "strings", value }.
local function value(v)
  local kind, x = v[1], v[2]
  if kind == "u32" then return string.pack("<I4I4", U32, x) end
  if kind == "i32" then return string.pack("<I4i4", I32, x) end
  if kind == "f32" then return string.pack("<I4f", F32, x) end
  if kind == "u64" then return string.pack("<I4I8", U64, x) end
  if kind == "string" then return string.pack("<I4", STRING) .. str(x) end
  if kind == "strings" then
    local parts = { string.pack("<I4I4I8", ARRAY, STRING, #x) }
    for i = 1, #x do parts[#parts + 1] = str(x[i]) end
    return table.concat(parts)
  end
  if kind == "f32s" then
    local parts = { string.pack("<I4I4I8", ARRAY, F32, #x) }
    for i = 1, #x do parts[#parts + 1] = string.pack("<f", x[i]) end
    return table.concat(parts)
  end
  error("unknown GGUF value kind " .. tostring(kind))
end

-- Bytes after a tensor's data, up to the next alignment.
function gguf.padding(bytes)
  return (gguf.ALIGNMENT - bytes % gguf.ALIGNMENT) % gguf.ALIGNMENT
end

-- header(metadata, list) -> the bytes before the first tensor's data.
-- metadata: { { key, { kind, value } } }; list: { { name, dtype, shape = { slowest, ..., fastest } } }.
function gguf.header(metadata, list)
  local parts = { "GGUF", string.pack("<I4I8I8", 3, #list, #metadata) }
  for _, kv in ipairs(metadata) do parts[#parts + 1] = str(kv[1]) .. value(kv[2]) end
  local at = 0
  for _, t in ipairs(list) do
    local ty = TYPES[t.dtype]
    local count = 1
    parts[#parts + 1] = str(t.name) .. string.pack("<I4", #t.shape)
    for d = #t.shape, 1, -1 do -- GGUF lists dimensions fastest first
      parts[#parts + 1] = string.pack("<I8", t.shape[d])
      count = count * t.shape[d]
    end
    parts[#parts + 1] = string.pack("<I4I8", ty[1], at)
    local bytes = count * ty[2]
    at = at + bytes + gguf.padding(bytes)
  end
  local head = table.concat(parts)
  return head .. string.rep("\0", gguf.padding(#head))
end

return gguf
