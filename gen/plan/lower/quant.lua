-- quant: a node that puts a tensor on its observer's grid. By what the
-- tensor is: a weight is quantized now; the mask stays implicit (its grid is
-- checked); an absent past or a dropped side output stays so; the unrounded
-- residual sum goes straight onto the grid; a cache on another grid is
-- requantized on every read; an activation is requantized, or aliased when
-- the grids are the same (TICO's equal-statistics chains, §1.5).

local grids = require "plan.grids"
local weights = require "plan.weights"
local fixed = require "plan.fixed"

local function sum_onto_grid(st, nd, src)
  local dest = st:destination(nd)
  local gr = st:result(nd, dest)
  local a, b = st:act(src.terms[1]), st:act(src.terms[2])
  local inv = grids.reciprocal(gr)
  st:step("add", { note = grids.note(gr), out = dest.ptr, a = a.ptr, a_zp = a.grid.zero_point, b = b.ptr,
    b_zp = b.grid.zero_point, c = false, c_zp = 0, n = st:per_row(nd.shape),
    rq = st.consts:add_rq(st:const_name(nd.obs, "_ADD"), fixed.add_rq({ a.grid.scale * inv, b.grid.scale * inv }),
      nd.ins[1] .. " = " .. table.concat(src.terms, " + ")),
    grid = st:grid_const(gr) })
end

local function cache_onto_grid(st, nd, src)
  local gr = st:obs_grid(nd.obs)
  if grids.same(src.grid, gr) then
    st.T[nd.out] = { kind = "cache", ptr = src.ptr, grid = gr }
    return
  end
  -- untied cache qparams: the past is requantized on every read
  local b = st:new_buffer(nd.out, "Hk P d")
  st:step("requant_past", { note = grids.note(gr), out = nd.out, cache = src.ptr, heads = st.dims.Hk,
    max_seq = st.desc.max_seq, d = st.dims.d, in_zp = src.grid.zero_point,
    rq = st:rq_const(nd.obs, src.grid.scale * grids.reciprocal(gr), "past requantized"), grid = st:grid_const(gr) },
    "requant")
  st.T[nd.out] = { kind = "cache", ptr = nd.out, buffer = b, grid = gr }
end

local function activation_onto_grid(st, nd, src)
  local gr = st:obs_grid(nd.obs)
  if grids.same(src.grid, gr) then
    st.T[nd.out] = { kind = src.kind, ptr = src.ptr, buffer = src.buffer, grid = gr, shape = src.shape, alias = nd.ins[1] }
    st:alias(gr, nd.out, nd.ins[1])
    return
  end
  local a = st:act(nd.ins[1])
  local dest = st:destination(nd)
  st:result(nd, dest)
  st:step("requant", { note = grids.note(gr), out = dest.ptr, x = a.ptr, n = st:per_row(nd.shape),
    x_zp = a.grid.zero_point, rq = st:rq_const(nd.obs, a.grid.scale * grids.reciprocal(gr), "s_in * (1/s_out)"),
    grid = st:grid_const(gr) })
end

local PASSED_ON = { none = true, side = true } -- nothing to compute, nothing to keep

return {
  quant = function(st, nd)
    local src = st.T[nd.ins[1]]
    if st.params[nd.ins[1]] then
      st.T[nd.out] = weights.quantize(st, nd)
    elseif src.kind == "mask" then
      grids.check_mask(st.qp, st.prefix .. nd.obs)
      st.T[nd.out] = { kind = "mask" }
    elseif PASSED_ON[src.kind] then
      st.T[nd.out] = { kind = src.kind }
    elseif src.kind == "sum" then
      sum_onto_grid(st, nd, src)
    elseif src.kind == "cache" then
      cache_onto_grid(st, nd, src)
    else
      activation_onto_grid(st, nd, src)
    end
  end,
}
