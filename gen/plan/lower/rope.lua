-- RoPE's moves: take_half (one half of each head) and concat_halves (two
-- halves back into a head, each requantized); the products with the cos and
-- sin rows are mul_rows (lower/elementwise.lua).

local grids = require "plan.grids"

local function heads_of(st, nd) return st.dims[nd.shape:match("^S (%S+)")] end

return {
  take_half = function(st, nd)
    local t = st:act(nd.ins[1])
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    st:step("take_half", { note = grids.note(gr), out = dest.ptr, x = t.ptr, rows = { per_row = heads_of(st, nd) },
      d = st.dims.d, which = nd.half - 1, x_zp = t.grid.zero_point,
      rq = st:rq_const(nd.obs, t.grid.scale * grids.reciprocal(gr), "s_in * (1/s_out)"), grid = st:grid_const(gr) })
  end,

  concat_halves = function(st, nd)
    local a, b = st:act(nd.ins[1]), st:act(nd.ins[2])
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    local inv = grids.reciprocal(gr)
    st:step("concat_halves", { note = grids.note(gr), out = dest.ptr, a = a.ptr, a_zp = a.grid.zero_point,
      a_rq = st:rq_const(nd.obs, a.grid.scale * inv, "s_a * (1/s_out)", "_RQ_A"),
      b = b.ptr, b_zp = b.grid.zero_point,
      b_rq = st:rq_const(nd.obs, b.grid.scale * inv, "s_b * (1/s_out)", "_RQ_B"),
      rows = { per_row = heads_of(st, nd) }, h = st.dims.d2, grid = st:grid_const(gr) })
  end,
}
