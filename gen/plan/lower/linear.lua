-- linear: y = x W^T requantized per output row. The kernel is the target's
-- (plan/kernels.lua); so is the weights' layout (the rules entry's
-- weight_layout: rows of 16 in groups of 4 inputs, say) and whatever
-- per-row constants the kernel folds (row_sums, or a bias hook computing
-- each row's zero-point terms from its code sum, or a row_terms hook making
-- a table of them together with each row's multiplier).

local fail = require "util.fail"
local grids = require "plan.grids"
local fixed = require "plan.fixed"
local kernels = require "plan.kernels"
local weights = require "plan.weights"

local function row_sums(st, w)
  return st.consts:cached(w.base .. " row sums", function() return st.native.row_sums(w.codes, w.ctype, w.rows) end)
end

return {
  linear = function(st, nd)
    local x, w = st:act(nd.ins[1]), st.T[nd.ins[2]]
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    local inv = grids.reciprocal(gr)
    local rqs = {}
    for r, s in ipairs(w.scales) do
      local real = x.grid.scale * s * inv
      if fixed.rq_fits(real) then
        rqs[r] = fixed.rq(real)
      else -- refused, naming the weight's observer and its row
        fail.within(st.qp.path, w.grid.path, fixed.rq, real, string.format("s_in * s_w[row %d] * (1/s_out)", r - 1))
      end
    end
    local k = kernels.linear(st.rules, x.grid, w.storage, w.cols, rqs)
    local codes, layout = weights.place(st, w, k)
    st.weight_constants[w.param] = { codes = codes, zp = w.zp, storage = w.storage, layout = layout }
    local vars = { note = grids.note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point, rows = "rows",
      n_in = w.cols, w = codes, w_zp = w.zp, n_out = w.rows, kernel = k.kernel,
      rq = st.consts:rq_array(st:const_name(nd.obs, "_RQ"), rqs, "s_in * s_w[row] * (1/s_out)"),
      grid = st:grid_const(gr) }
    if k.row_sums then
      vars.w_sum = st.consts:array(w.base .. "_SUM", "s32", row_sums(st, w), "per-row sums of the weight codes",
        "constants")
    end
    if k.bias then
      -- each row's zero-point terms that do not depend on x, as the rules' hook computes them
      local zx, n, bias = x.grid.zero_point, w.cols, {}
      for r, sw in ipairs(row_sums(st, w)) do bias[r] = k.bias(n, zx, w.zps[r], sw) end
      vars.w_bias = st.consts:array(st:const_name(nd.obs, "_BIAS"), "s64", bias,
        "per-row zero-point terms for " .. k.kernel, "constants")
    end
    if k.row_terms then
      -- each row's terms as the rules' hook makes them from its zero-point
      -- terms, its multiplier, the output's zero point and its index (from
      -- 0): count integers a row, one table of them
      local t, zx, n, terms = k.row_terms, x.grid.zero_point, w.cols, {}
      for r, sw in ipairs(row_sums(st, w)) do
        local row = table.pack(t.make(n, zx, w.zps[r], sw, rqs[r].mult, rqs[r].shift, gr.zero_point, r - 1))
        if row.n ~= t.count then
          fail.raise(st.rules.path, "kernels.linear", string.format("%s's row_terms make %d terms a row, not %d",
            k.kernel, row.n, t.count))
        end
        for i = 1, t.count do terms[#terms + 1] = row[i] end
      end
      vars.w_bias = st.consts:array(st:const_name(nd.obs, "_TERMS"), t.ctype, terms,
        string.format("per-row terms for %s, %d a row", k.kernel, t.count), "constants")
    end
    -- the kernel's own scratch, k.work bytes per activation value (or none)
    vars.work = k.work and st:new_buffer(nd.out .. "_work", nil, (k.work * st.block * w.cols + 1) // 2).name or false
    st:step(k.template or "linear", vars)
  end,
}
