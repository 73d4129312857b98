-- One safetensors file: opened (header, the tensors tiling the data) and each
-- tensor mapped in its dtype, checked for NaN, and converted.
local safetensors = require "read.safetensors"

return function(fuzz, data)
  local st = safetensors.open(fuzz.file("model.safetensors", data))
  for _, name in ipairs(fuzz.sorted_keys(st.tensors)) do
    local t = st.tensors[name]
    local tensor = assert(fuzz.native.map_tensor(st.path, t.offset, t.count, t.dtype))
    tensor:first_nonfinite()
    if t.count > 0 then tensor:converted("fp32"):minmax() end
  end
end
