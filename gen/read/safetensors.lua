-- Reader for one safetensors file, as strict as the format's own rules
-- (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
-- of JSON, then the data buffer. The header maps each tensor name to
-- { dtype, shape, data_offsets = [begin, end] } relative to the buffer, plus an
-- optional "__metadata__" of strings. Tensors are row-major, and together
-- they cover the buffer exactly: no gap, no overlap, nothing left over.

local fail = require "util.fail"
local json = require "util.json"

local safetensors = {}

safetensors.MAX_HEADER = 100 * 1000 * 1000 -- the format's own limit
local MAX_RANK = 8

-- The dtypes kiln reads, by safetensors name: kiln's name and the bytes of one value.
safetensors.DTYPES = {
  F32 = { name = "fp32", bytes = 4 },
  F16 = { name = "fp16", bytes = 2 },
  BF16 = { name = "bf16", bytes = 2 },
}
-- The rest of the format's dtypes: named in the refusal.
local OTHER_DTYPES = {
  F64 = true, I64 = true, I32 = true, I16 = true, I8 = true, U64 = true, U32 = true, U16 = true, U8 = true,
  BOOL = true, F8_E4M3 = true, F8_E5M2 = true, F8_E8M0 = true, F6_E2M3 = true, F6_E3M2 = true, F4 = true,
}

-- A JSON number that is a size (lua-cjson reads every number as a float).
local function count_of(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v >= 2 ^ 53 or v ~= math.floor(v) then return nil end
  return math.tointeger(v)
end

-- open(path) -> { path, size, data_start, tensors = { [name] = { name, dtype, shape, offset, count } },
-- metadata }. offset is the absolute byte offset of the tensor in the file.
function safetensors.open(path)
  local f, err = io.open(path, "rb")
  if not f then fail.raise(path, nil, "cannot open: " .. (err or "?"):gsub("^[^:]*: ", "")) end
  local size = f:seek("end")
  f:seek("set", 0)
  local head = f:read(8) or ""
  if #head < 8 then
    f:close()
    fail.raise(path, "header", string.format("file is %d bytes, shorter than the 8-byte safetensors header length", size))
  end
  local n = string.unpack("<i8", head)
  if n < 2 or n > safetensors.MAX_HEADER or n > size - 8 then
    f:close()
    fail.raise(path, "header", string.format("header length %d is not within [2, min(%d, file size %d - 8)]", n,
      safetensors.MAX_HEADER, size))
  end
  local text = f:read(n)
  f:close()
  if not text or #text ~= n then fail.raise(path, "header", "file ends inside the header") end
  local doc, jerr = json.decode(text)
  if type(doc) ~= "table" or text:match("^%s*%[") then
    fail.raise(path, "header", "not a JSON object" .. (jerr and (": " .. tostring(jerr)) or ""))
  end
  local repeated = json.repeated_key(text)
  if repeated then fail.raise(path, repeated, "the header names this tensor twice") end

  local data_start = 8 + n
  local data_bytes = size - data_start
  local names = {}
  for name in pairs(doc) do
    if type(name) ~= "string" then fail.raise(path, "header", "a key is not a string") end
    names[#names + 1] = name
  end
  table.sort(names) -- the same refusal on every run
  local tensors, list = {}, {}
  for _, name in ipairs(names) do
    local entry = doc[name]
    if name == "__metadata__" then
      if type(entry) ~= "table" then fail.raise(path, name, "must be an object of strings") end
      for k, v in pairs(entry) do
        if type(k) ~= "string" or type(v) ~= "string" then fail.raise(path, name, "must be an object of strings") end
      end
    else
      if type(entry) ~= "table" then fail.raise(path, name, "is not an object") end
      local dtype = entry.dtype
      if type(dtype) ~= "string" then fail.raise(path, name, "dtype missing") end
      local dt = safetensors.DTYPES[dtype]
      if not dt then
        if OTHER_DTYPES[dtype] then
          fail.raise(path, name, "dtype " .. dtype .. " is not supported (F32, F16, BF16)")
        end
        fail.raise(path, name, "unknown dtype " .. string.format("%q", dtype))
      end
      local shape = entry.shape
      if type(shape) ~= "table" or #shape > MAX_RANK then fail.raise(path, name, "shape must be a list of sizes") end
      local count, dims = 1, {}
      for i = 1, #shape do
        dims[i] = count_of(shape[i])
        if not dims[i] then fail.raise(path, name, "shape entry " .. tostring(shape[i]) .. " is not a size") end
        if dims[i] > 0 and count > data_bytes // dims[i] then fail.raise(path, name, "shape is larger than the file") end
        count = count * dims[i]
      end
      shape = dims
      local raw = entry.data_offsets
      local offs = type(raw) == "table" and #raw == 2 and { count_of(raw[1]), count_of(raw[2]) } or {}
      if not offs[1] or not offs[2] or offs[2] < offs[1] then
        fail.raise(path, name, "data_offsets must be [begin, end] with 0 <= begin <= end")
      end
      if offs[2] > data_bytes then
        fail.raise(path, name, string.format("data_offsets end %d is beyond the data (%d bytes)", offs[2], data_bytes))
      end
      if count * dt.bytes ~= offs[2] - offs[1] then
        fail.raise(path, name, string.format("shape [%s] of %s needs %d bytes, data_offsets give %d",
          table.concat(shape, ", "), dtype, count * dt.bytes, offs[2] - offs[1]))
      end
      local t = { name = name, dtype = dt.name, shape = shape, begin = offs[1], finish = offs[2],
        offset = data_start + offs[1], count = count }
      tensors[name] = t
      list[#list + 1] = t
    end
  end
  -- the tensors tile the data buffer: sorted by begin, each starts where the last ended
  table.sort(list, function(a, b)
    if a.begin ~= b.begin then return a.begin < b.begin end
    return a.finish < b.finish
  end)
  local at = 0
  for _, t in ipairs(list) do
    if t.begin < at then fail.raise(path, t.name, "data overlaps the tensor before it") end
    if t.begin > at then fail.raise(path, t.name, string.format("a gap of %d bytes before its data", t.begin - at)) end
    at = t.finish
  end
  if at ~= data_bytes then
    fail.raise(path, "data", string.format("%d bytes after the last tensor belong to none", data_bytes - at))
  end
  return { path = path, size = size, data_start = data_start, tensors = tensors,
    metadata = doc.__metadata__ }
end

return safetensors
