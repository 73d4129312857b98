-- A weight parameter quantized at generation time on its observer's grid:
-- RMSNorm's gamma as int16 codes, a linear layer's rows in their own
-- storage with per-row zero points. The consumer registers the codes, since
-- it knows the layout its kernel wants.

local grids = require "plan.grids"
local program = require "graph.program"

local weights = {}

-- quantize(st, nd) -> the record of the node's param: { kind = "gamma", ... }
-- or { kind = "weight", ... }.
function weights.quantize(st, nd)
  local p = st.params[nd.ins[1]]
  local gr = st:obs_grid(nd.obs)
  local o = st.qp.observers[st.prefix .. nd.obs]
  local tensor = st.spec.weights[p.name]
  local base = st:const_name(nd.obs)
  if p.role == "norm" then
    local packed = tensor:quantize(o.scale, o.zero_point, gr.qmin, gr.qmax, "s16")
    local values = { string.unpack("<" .. string.rep("i2", #packed // 2), packed) }
    values[#values] = nil
    local name = st.consts:array(base, "s16", values, grids.note(gr), "weights")
    return { kind = "gamma", ptr = name, grid = gr, zero_point = o.zero_point }
  end
  local ctype = grids.weight_ctype(o.dtype)
  local rows = program.numel(p.shape:match("^(%S+)"), st.dims)
  local scales, zps = o.scale, o.zero_point
  if type(scales) ~= "table" then
    scales, zps = {}, {}
    for r = 1, rows do scales[r], zps[r] = o.scale, o.zero_point end
  end
  local codes = st.consts:cached(base .. " codes", function()
    return tensor:quantize(scales, zps, gr.qmin, gr.qmax, ctype)
  end)
  local cols = tensor:len() // rows
  return { kind = "weight", param = p.name, zp = st.consts:array(base .. "_ZP", "s32", zps, "per-row zero points"),
    zps = zps, ctype = ctype, scales = scales, rows = rows, cols = cols, grid = gr, codes = codes, base = base,
    note = string.format("%s: %s %s, [%d][%d]", st.prefix .. nd.obs, o.dtype, o.qscheme, rows, cols) }
end

return weights
