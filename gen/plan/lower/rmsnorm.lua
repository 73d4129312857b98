-- rmsnorm: one row multiplier around an integer square root (kiln_rmsnorm),
-- gamma on its own grid.

local grids = require "plan.grids"
local fixed = require "plan.fixed"
local constants = require "plan.constants"
local f32 = require "util.f32"

return {
  rmsnorm = function(st, nd)
    local x, w = st:act(nd.ins[1]), st.T[nd.ins[2]]
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    local n = st.dims.D
    local max_dev = math.max(x.grid.qmax - x.grid.zero_point, x.grid.zero_point - x.grid.qmin)
    -- TICO adds eps in float32
    local p = fixed.norm_rq(x.grid.scale, w.grid.scale, grids.reciprocal(gr), n, f32.round(st.desc.rms_eps), max_dev)
    st:step("rmsnorm", { note = grids.note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point, rows = "rows",
      n = n, gamma = w.ptr, gamma_zp = w.zero_point,
      p = st.consts:norm_rq(st:const_name(nd.obs, "_NORM"), p, "rmsnorm, eps " .. constants.real(st.desc.rms_eps)),
      grid = st:grid_const(gr) })
  end,
}
