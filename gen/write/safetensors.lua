-- Writing safetensors files: the header of a list of tensors laid out one
-- after another, in the order given. The data is the caller's to write after
-- it (whole, or streamed for big models).

local json = require "util.json"

local safetensors = {}

-- kiln dtype -> safetensors dtype and bytes per value
safetensors.DTYPES = { fp32 = { "F32", 4 }, fp16 = { "F16", 2 }, bf16 = { "BF16", 2 } }

-- header(list, metadata) -> the bytes before the data, and the data's size.
-- list: { { name, dtype = "fp32" | "fp16" | "bf16", shape = { ... } } }, in data order.
function safetensors.header(list, metadata)
  local doc = json.object()
  if metadata then
    local m = json.object()
    for _, kv in ipairs(metadata) do m:set(kv[1], kv[2]) end
    doc:set("__metadata__", m)
  end
  local at = 0
  for _, t in ipairs(list) do
    local dt = safetensors.DTYPES[t.dtype]
    local count = 1
    for _, n in ipairs(t.shape) do count = count * n end
    local e = json.object():set("dtype", dt[1]):set("shape", t.shape):set("data_offsets", { at, at + count * dt[2] })
    doc:set(t.name, e)
    at = at + count * dt[2]
  end
  local text = json.encode(doc)
  -- the format pads the header with spaces so that the data starts 8-aligned
  text = text .. string.rep(" ", (8 - #text % 8) % 8)
  return string.pack("<i8", #text) .. text, at
end

return safetensors
