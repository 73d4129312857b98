-- add, mul and mul_rows. An add without an observer is TICO's float residual: kiln
-- does not round it at all, its consumers add the terms on their own grids
-- (up to three terms in one kiln_add).

local grids = require "plan.grids"
local fixed = require "plan.fixed"

-- a * b onto the node's grid with one multiplier; operands(a, b) gives the
-- template's variables for the two inputs
local function product(st, nd, template, operands, what)
  local a, b = st:act(nd.ins[1]), st:act(nd.ins[2])
  local dest = st:destination(nd)
  local gr = st:result(nd, dest)
  local vars = operands(a, b)
  vars.note, vars.out = grids.note(gr), dest.ptr
  vars.rq = st:rq_const(nd.obs, a.grid.scale * b.grid.scale * grids.reciprocal(gr), what)
  vars.grid = st:grid_const(gr)
  st:step(template, vars)
end

return {
  add = function(st, nd)
    if not nd.obs then
      st.T[nd.out] = { kind = "sum", terms = { nd.ins[1], nd.ins[2] } }
      return
    end
    local terms = {}
    for _, name in ipairs(nd.ins) do
      if st.T[name].kind == "sum" then
        for _, t in ipairs(st.T[name].terms) do terms[#terms + 1] = t end
      else
        terms[#terms + 1] = name
      end
    end
    local recs = {}
    for i, name in ipairs(terms) do recs[i] = st:act(name) end
    local dest = st:destination(nd)
    local gr = st:result(nd, dest)
    local reals, inv = {}, grids.reciprocal(gr)
    for i, r in ipairs(recs) do reals[i] = r.grid.scale * inv end
    local c = recs[3]
    st:step("add", { note = grids.note(gr), out = dest.ptr, a = recs[1].ptr, a_zp = recs[1].grid.zero_point,
      b = recs[2].ptr, b_zp = recs[2].grid.zero_point, c = c and c.ptr or false, c_zp = c and c.grid.zero_point or 0,
      n = st:per_row(nd.shape),
      rq = st.consts:add_rq(st:const_name(nd.obs, "_ADD"), fixed.add_rq(reals), nd.out .. " = " .. table.concat(terms, " + ")),
      grid = st:grid_const(gr) })
  end,

  mul = function(st, nd)
    product(st, nd, "mul", function(a, b) return { a = a.ptr, a_zp = a.grid.zero_point, b = b.ptr,
      b_zp = b.grid.zero_point, n = st:per_row(nd.shape) } end, "s_a * s_b * (1/s_out)")
  end,

  -- each head of x times its token's row of the cos or sin table
  mul_rows = function(st, nd)
    product(st, nd, "mul_rows", function(x, tab) return { x = x.ptr, x_zp = x.grid.zero_point, table = tab.ptr,
      t_zp = tab.grid.zero_point, rows = "rows", heads = st.dims[nd.shape:match("^S (%S+)")], d = st.dims.d } end,
      "s_x * s_table * (1/s_out)")
  end,
}
