-- sigmoid: for inputs of at most 256 levels an exact table of TICO's float
-- sigmoid, fake-quantized (kiln_lookup); else through exp in Q31.

local grids = require "plan.grids"
local fixed = require "plan.fixed"

local TABLE_LEVELS = 256

return {
  sigmoid = function(st, nd)
    local x = st:act(nd.ins[1])
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    local levels = x.grid.qmax - x.grid.qmin + 1
    if levels <= TABLE_LEVELS then
      local tab = fixed.lookup_table(x.grid, gr, fixed.sigmoid)
      st:step("lookup", { note = grids.note(gr), out = dest.ptr, x = x.ptr, n = st:per_row(nd.shape),
        x_min = x.grid.qmin, table = st.consts:array(st:const_name(nd.obs, "_TABLE"), "s16", tab,
          string.format("sigmoid of each %s code, on the output grid", x.grid.dtype)) })
      return
    end
    local lut = fixed.exp_lut(x.grid.scale, levels - 1)
    st:step("sigmoid", { note = grids.note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point,
      n = st:per_row(nd.shape),
      lut = st.consts:exp_lut(st:const_name(nd.obs, "_EXP"), lut, "exp(-d * s_in) for sigmoid"),
      rq = st:rq_const(nd.obs, 2.0 ^ -31 * grids.reciprocal(gr), "2^-31 * (1/s_out)"), grid = st:grid_const(gr) })
  end,
}
