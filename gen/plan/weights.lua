-- A weight parameter quantized at generation time on its observer's grid:
-- RMSNorm's gamma as int16 codes, a linear layer's rows in their own
-- storage with per-row zero points; and where a linear weight's codes go
-- (weights.place), in the layout its kernel reads.

local fail = require "util.fail"
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
  -- ctype: one code a byte (or two bytes) as quantized; storage, bits: as the kernels read them
  local ctype = grids.weight_ctype(o.dtype)
  local storage, bits = grids.weight_storage(o.dtype)
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
    zps = zps, ctype = ctype, storage = storage, bits = bits, scales = scales, rows = rows, cols = cols, grid = gr, codes = codes, base = base,
    tensor = st.prefix .. nd.obs, dtype = o.dtype,
    note = string.format("%s: %s %s, [%d][%d]", st.prefix .. nd.obs, o.dtype, o.qscheme, rows, cols) }
end

-- What weights.bin's tensor index records of w's codes in a layout; codes:
-- the stored element type of 4-bit codes (two a byte), u4 or s4.
local function meta(w, layout, codes)
  return { tensor = w.tensor, dtype = w.dtype, shape = { w.rows, w.cols }, layout = layout, codes = codes }
end

-- 4-bit rows as every portable kernel reads them (runtime/portable/kiln_rt_w4.h)
weights.NIBBLE_ROWS = "two codes a byte (kiln_rt_w4.h: low nibble the even column, each row from a new byte)"

-- 8-bit codes in units of #order bytes, each unit's byte j taken from its
-- byte order[j] (0-based), those at the positions flip_at lists with their
-- top bit flipped.
local function reorder(codes, order, flip_at)
  local n, flip = #order, {}
  for _, j in ipairs(flip_at or {}) do flip[j + 1] = true end
  local out, unit = {}, {}
  for at = 1, #codes, n do
    local b = { codes:byte(at, at + n - 1) }
    for j = 1, n do
      local v = b[order[j] + 1]
      unit[j] = flip[j] and v ~ 0x80 or v
    end
    out[#out + 1] = string.char(table.unpack(unit, 1, n))
  end
  return table.concat(out)
end

-- place(st, w, k) -> the constant holding w's codes as kernel entry k reads
-- them, and the layout's name: "rows" ([rows][cols] as quantized; 4-bit
-- codes two a byte, weights.NIBBLE_ROWS), or the rules entry's
-- weight_layout: blocks of block_rows rows x group inputs, and for 4-bit
-- codes that layout's pairing of nibbles (nibbles = "halves": the codes j and
-- j + unit/2 of each block_rows x group unit share a byte; flip_sign: the
-- top bit of each code flipped, u - 128 for 8-bit, s + 8 for int4); for
-- 8-bit codes also an order of each block_rows x group unit's bytes (order:
-- byte j is the unit's row-major code order[j]) and the positions of it
-- whose top bit is flipped (flip_at).
function weights.place(st, w, k)
  local layout, native, consts = k.weight_layout, st.native, st.consts
  if not layout then
    if w.bits ~= 4 then return consts:packed(w.base, w.ctype, w.codes, w.note, nil, meta(w, "rows")), "rows" end
    local bytes = consts:cached(w.base .. " nibble rows", function()
      return native.pack_nibbles(w.codes, w.ctype, w.cols, "adjacent", 0)
    end)
    return consts:packed(w.base, "u8", bytes, w.note .. ", " .. weights.NIBBLE_ROWS, nil,
      meta(w, "rows", w.ctype == "s8" and "s4" or "u4")), "rows"
  end
  if w.bits == 4 and not layout.nibbles then
    fail.raise(st.rules.path, "kernels.linear", string.format("%s takes %s weights, but its weight_layout %s has no "
      .. "4-bit form (nibbles = \"halves\")", k.kernel, w.storage, layout.name))
  end
  local codes = consts:cached(w.base .. " " .. layout.name, function()
    if w.bits ~= 4 then
      local blocks = native.pack_blocks(w.codes, w.rows, w.cols, layout.block_rows, layout.group, layout.flip_sign)
      return layout.order and reorder(blocks, layout.order, layout.flip_at) or blocks
    end
    local blocks = native.pack_blocks(w.codes, w.rows, w.cols, layout.block_rows, layout.group, false)
    return native.pack_nibbles(blocks, w.ctype, layout.block_rows * layout.group, layout.nibbles,
      layout.flip_sign and 8 or 0)
  end)
  -- flip_sign turns signed codes into unsigned ones and back
  local stored = w.bits == 4 and (((w.ctype == "s8") ~= (layout.flip_sign == true)) and "s4" or "u4") or nil
  return consts:packed(w.base .. "_" .. layout.name:upper(), layout.ctype, codes,
    w.note .. ", packed for " .. k.kernel .. " (" .. layout.doc .. ")", nil, meta(w, layout.name, stored)), layout.name
end

return weights
